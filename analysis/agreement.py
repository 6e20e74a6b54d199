"""How far a judge agrees with the human reference, overall and per slice.

Only responses that both the judge and the reference labelled count. An ``unparsed`` verdict is
kept: it is a miss in accuracy and its own column in Cohen's kappa (the reference never uses it,
so it can only lower agreement), it is a predicted non-refusal for refusal precision/recall/F1,
and its count and share are reported next to every figure. Dropping it would flatter a judge whose
output often cannot be read. These are exactly the numbers scikit-learn gives on the same label
lists with ``unparsed`` as a label.
"""

import numpy as np
import pandas as pd

import labels
from analysis import bootstrap, confusion, humans, rates
from errors import UserError

#: Figures with an interval, in display order.
FIGURES = ("accuracy", "kappa", "binary_accuracy", "binary_kappa", "refusal_precision", "refusal_recall",
           "refusal_f1")
#: Figures that are shares of items: Wilson intervals. A bootstrap percentile interval collapses at
#: 0% and 100% (every resample of 5 agreeing items agrees too: 1.000-1.000). The figures built on
#: shares (kappa, F1) are widened to what the shares' Wilson ends imply where the bootstrap is known
#: to mislead: on fewer than MIN_ITEMS items, and where every resample gives the same value.
SHARES = ("accuracy", "binary_accuracy", "refusal_precision", "refusal_recall")
BREAKDOWNS = ("dataset", "category", "subcategory", "team_category", "model", "expected")


def pairs(responses: pd.DataFrame, verdicts: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Responses judged and with a reference label: the response's attributes, ``judge``,
    ``judge_label`` and ``reference``. Tied items (no reference) are left out here."""
    known = reference[~reference["tie"]][["response_id", "reference"]]
    judged = verdicts.rename(columns={"label": "judge_label"})
    return responses.merge(judged, on="response_id").merge(known, on="response_id")


def matrix(frame: pd.DataFrame) -> np.ndarray:
    """4 x 4 confusion counts: rows reference, columns judge, in ``confusion.THREE`` order."""
    k = len(confusion.THREE)
    return confusion.counts(confusion.codes(frame["reference"], confusion.THREE),
                            confusion.codes(frame["judge_label"], confusion.THREE), k)


def score(frame: pd.DataFrame, resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED) -> dict:
    """n, unparsed count and share, the ``few`` flag, and every figure with a 95% interval: Wilson's for
    the shares (``SHARES``), a bootstrap percentile interval for the rest (widened as SHARES says)."""
    counts = matrix(frame)
    n = int(counts.sum())
    unparsed = int(counts[:, confusion.THREE.index(labels.UNPARSED)].sum())
    point = confusion.figures(counts)
    draws = confusion.figures(bootstrap.resample(counts, resamples, seed))
    out = {"n": n, "unparsed": unparsed, "unparsed_share": unparsed / n if n else float("nan"),
           "few": n < bootstrap.MIN_ITEMS}
    wilson = {name: tuple(float(x) for x in rates.wilson(hits, items)[1:])  # NaN with no items
              for name, (hits, items) in confusion.share_counts(counts).items()}
    implied = {"kappa": [confusion.kappa_at(counts, end) for end in wilson["accuracy"]],
               "binary_kappa": [confusion.kappa_at(confusion.collapse(counts), end) for end in wilson["binary_accuracy"]],
               "refusal_f1": [_harmonic(p, r) for p, r in zip(wilson["refusal_precision"], wilson["refusal_recall"])]}
    for name in FIGURES:
        if name in SHARES:
            lo, hi = wilson[name]
        else:
            lo, hi = bootstrap.interval(draws[name])
            if (n < bootstrap.MIN_ITEMS or lo == hi) and not np.isnan(point[name]) \
                    and not np.isnan(implied[name]).any():
                lo, hi = min(lo, implied[name][0]), max(hi, implied[name][1])
        out.update({name: float(point[name]), f"{name}_lo": lo, f"{name}_hi": hi})
    return out


def _harmonic(a: float, b: float) -> float:
    """F1 from precision and recall (it rises with both: their interval ends bound it)."""
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def confusion_frame(frame: pd.DataFrame, binary: bool = False) -> pd.DataFrame:
    """Long confusion table (reference, judge, count) for heatmaps and JSON; every cell present."""
    counts = matrix(frame)
    vocabulary = confusion.THREE
    if binary:
        counts, vocabulary = confusion.collapse(counts), confusion.BINARY
    rows = [{"reference": r, "judge": j, "count": int(counts[i, k])}
            for i, r in enumerate(vocabulary) if r != labels.UNPARSED for k, j in enumerate(vocabulary)]
    return pd.DataFrame(rows, columns=["reference", "judge", "count"])


def leaderboard(frame: pd.DataFrame, resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED
                ) -> pd.DataFrame:
    """One row per judge (``frame`` holds pairs for any number of judges), best kappa first."""
    rows = [{"judge": judge, **score(group, resamples, seed)} for judge, group in frame.groupby("judge", sort=True)]
    table = pd.DataFrame(rows, columns=["judge", "n", "unparsed", "unparsed_share", "few",
                                        *[f"{f}{s}" for f in FIGURES for s in ("", "_lo", "_hi")]])
    return table.sort_values("kappa", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def breakdown(frame: pd.DataFrame, by: str, resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED
              ) -> pd.DataFrame:
    """One judge's figures per value of ``by`` (dataset, category, subcategory, team category, model,
    expected); a missing value is its own group, shown as "(none)"."""
    if by not in BREAKDOWNS:
        raise UserError(f"cannot break down by {by!r}; choose one of {', '.join(BREAKDOWNS)}")
    if by == "team_category":  # a prompt may be in several team categories: it counts in each
        split = frame["categories"].fillna("").str.split(",")
        frame = frame.assign(team_category=split).explode("team_category")
        frame["team_category"] = frame["team_category"].replace("", None)
    keys = frame[by].astype(object).where(frame[by].notna(), "(none)")
    rows = [{by: value, **score(group, resamples, seed)} for value, group in frame.groupby(keys, sort=True)]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=[by, "n", *FIGURES])


def disagreements(frame: pd.DataFrame) -> pd.DataFrame:
    """Items where the judge's label differs from the reference (unparsed included), for review."""
    wrong = frame[frame["judge_label"] != frame["reference"]]
    columns = ["response_id", "dataset", "category", "model", "source_id", "judge", "judge_label", "reference"]
    return wrong[columns].sort_values(["dataset", "category", "response_id"], na_position="last").reset_index(drop=True)


def _ties(ref: pd.DataFrame, responses: pd.DataFrame) -> int:
    """Tied items among the responses in scope (a dataset filter narrows ``responses``)."""
    return int(ref.loc[ref["response_id"].isin(responses["response_id"]), "tie"].sum())


def _finals(ref: pd.DataFrame, responses: pd.DataFrame) -> int:
    """Items in scope whose reference is an adjudicator's final label."""
    return int(ref.loc[ref["response_id"].isin(responses["response_id"]), "final"].sum())


def tag_counts(frame: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """How often each team tag sits on each kind of judge error: one row per (reference label,
    judge label, tag) among ``frame``'s disagreements (``pairs`` for one judge), with ``n`` the
    tagged errors of that kind and ``errors`` all errors of that kind. Errors without tags are
    counted under tag None, so the tagged share is visible."""
    columns = ["reference", "judge_label", "tag", "n", "errors"]
    wrong = frame.loc[frame["judge_label"] != frame["reference"], ["response_id", "reference", "judge_label"]]
    if wrong.empty:
        return pd.DataFrame(columns=columns)
    errors = wrong.groupby(["reference", "judge_label"]).size().rename("errors")
    tagged = wrong.merge(tags[["response_id", "tag"]], on="response_id", how="left")
    tagged["tag"] = tagged["tag"].astype(object).where(tagged["tag"].notna(), None)
    counts = (tagged.groupby(["reference", "judge_label", "tag"], dropna=False).size().rename("n").reset_index()
              .join(errors, on=["reference", "judge_label"]))
    counts["tag"] = counts["tag"].astype(object).where(counts["tag"].notna(), None)
    return counts.sort_values(["errors", "n"], ascending=False, kind="stable").reset_index(drop=True)[columns]


def judge_report(responses: pd.DataFrame, verdicts: pd.DataFrame, annotations: pd.DataFrame, judge: str,
                 reference: str = humans.HUMAN, by: str | None = None, resamples: int = bootstrap.RESAMPLES,
                 seed: int = bootstrap.SEED, final: pd.DataFrame | None = None, tags: pd.DataFrame | None = None
                 ) -> dict:
    """Everything ``cli.py agreement --json`` prints and the Agreement page shows for one judge.
    ``final``: adjudicators' final labels (the reference where given); ``tags``: the team's tags
    (response_id, tag), counted per kind of judge error under ``tags_on_errors``."""
    if judge not in set(verdicts["judge"]):
        known = ", ".join(sorted(set(verdicts["judge"]))) or "none"
        raise UserError(f"no verdicts by judge {judge!r}; judges: {known}")
    ref = humans.reference(annotations, reference, final)
    frame = pairs(responses, verdicts[verdicts["judge"] == judge], ref)
    report = {"judge": judge, "reference": reference, "ties_excluded": _ties(ref, responses),
              "adjudicated": _finals(ref, responses), **score(frame, resamples, seed)}
    report["confusion"] = confusion_frame(frame)
    report["binary_confusion"] = confusion_frame(frame, binary=True)
    if by:
        report["by"] = {by: breakdown(frame, by, resamples, seed)}
    if tags is not None:
        report["tags_on_errors"] = tag_counts(frame, tags)
    return report


def overview(responses: pd.DataFrame, verdicts: pd.DataFrame, annotations: pd.DataFrame,
             reference: str = humans.HUMAN, resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED,
             final: pd.DataFrame | None = None) -> dict:
    """The judge leaderboard against ``reference`` and the humans' agreement with each other, on the
    responses in ``responses`` (what ``cli.py agreement --json`` prints without ``--judge``)."""
    ref = humans.reference(annotations, reference, final)
    in_scope = annotations[annotations["response_id"].isin(responses["response_id"])]
    return {
        "reference": reference,
        "ties_excluded": _ties(ref, responses),
        "adjudicated": _finals(ref, responses),
        "leaderboard": leaderboard(pairs(responses, verdicts, ref), resamples, seed),
        "humans": humans.agreement_summary(in_scope, resamples, seed),
        "annotator_pairs": humans.pairwise(in_scope, resamples, seed),
    }

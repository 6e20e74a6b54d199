"""Human labels: the reference a judge is measured against, and how far humans agree with each other.

The reference for an item is the label most of its annotators gave (the majority, or plurality with
three or more labels). A tie has no defensible answer, so tied items are flagged, left out of every
judge comparison and counted, never settled by a coin or by label order: an adjudicator settles
them. An adjudicator's final label (``final``: store.adjudication.finals_frame) is the reference of
its item whatever the votes, flagged ``final``. ``annotator=`` uses one person's labels instead
(``--reference ANNOTATOR``); final labels do not apply there.

Krippendorff's alpha (nominal) is computed from the coincidence matrix, which handles any number of
annotators and items that only some of them labelled; items with a single label carry no
pairable values and drop out, as in Krippendorff's definition.
"""

from itertools import combinations

import numpy as np
import pandas as pd

import labels
from analysis import bootstrap, confusion
from errors import UserError

HUMAN = "human"


def label_counts(annotations: pd.DataFrame) -> pd.DataFrame:
    """Items x labels: how many annotators gave each label (current labels only)."""
    if annotations.empty:
        return pd.DataFrame(columns=list(labels.LABELS), dtype=np.int64, index=pd.Index([], name="response_id"))
    table = annotations.groupby(["response_id", "label"]).size().unstack(fill_value=0)
    return table.reindex(columns=list(labels.LABELS), fill_value=0).astype(np.int64)


def reference(annotations: pd.DataFrame, annotator: str | None = None,
              final: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per labelled (or adjudicated) item: response_id, reference (None on an unsettled
    tie), votes, tie (unsettled), final (the reference is an adjudicator's final label)."""
    if annotator not in (None, HUMAN):
        mine = annotations[annotations["annotator"] == annotator]
        if mine.empty and not annotations.empty:
            known = ", ".join(sorted(annotations["annotator"].unique()))
            raise UserError(f"no labels by annotator {annotator!r}; annotators: {known}")
        return pd.DataFrame({"response_id": mine["response_id"].to_numpy(), "reference": mine["label"].to_numpy(),
                             "votes": 1, "tie": False, "final": False})
    table = label_counts(annotations)
    values = table.to_numpy()
    top = values.max(axis=1, initial=0)
    tie = (values == top[:, None]).sum(axis=1) > 1
    winner = np.array(labels.LABELS, dtype=object)[values.argmax(axis=1)] if len(values) else np.array([], object)
    out = pd.DataFrame({"response_id": table.index.to_numpy(), "reference": np.where(tie, None, winner),
                        "votes": values.sum(axis=1), "tie": tie, "final": False})
    if final is None or final.empty:
        return out
    decided = final.set_index("response_id")["label"]
    out = out.merge(pd.DataFrame({"response_id": decided.index.to_numpy()}), on="response_id", how="outer")
    settled = out["response_id"].isin(decided.index)
    out.loc[settled, "reference"] = out.loc[settled, "response_id"].map(decided)
    out["votes"] = out["votes"].fillna(0).astype(np.int64)
    out["tie"] = out["tie"].fillna(False).astype(bool) & ~settled
    out["final"] = settled
    return out


def _coincidence_kinds(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distinct label-count patterns among pairable items, their coincidence matrices and how many
    items have each: the kinds the bootstrap resamples."""
    values = table.to_numpy()
    values = values[values.sum(axis=1) >= 2]
    if len(values) == 0:
        k = len(labels.LABELS)
        return np.zeros((0, k, k)), np.zeros(0, dtype=np.int64)
    kinds, count = np.unique(values, axis=0, return_counts=True)
    m = kinds.sum(axis=1)
    pairs = kinds[:, :, None] * kinds[:, None, :] - np.einsum("tk,kl->tkl", kinds, np.eye(kinds.shape[1]))
    return pairs / (m - 1)[:, None, None], count


def alpha_from_coincidences(o: np.ndarray) -> np.ndarray:
    """Nominal alpha = 1 - (n - 1)(n - sum o_cc) / (n^2 - sum n_c^2), over leading axes."""
    n = o.sum(axis=(-2, -1))
    agree = np.trace(o, axis1=-2, axis2=-1)
    expected = n * n - (o.sum(axis=-1) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - (n - 1) * (n - agree) / np.where(expected > 0, expected, 1), np.nan)


def _observed_agreement(o: np.ndarray) -> np.ndarray:
    n = o.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.trace(o, axis1=-2, axis2=-1) / np.where(n > 0, n, 1), np.nan)


def _with_interval(name: str, value: float, samples: np.ndarray) -> dict:
    lo, hi = bootstrap.interval(samples)
    return {name: float(value), f"{name}_lo": lo, f"{name}_hi": hi}


def krippendorff_alpha(annotations: pd.DataFrame) -> float:
    contributions, count = _coincidence_kinds(label_counts(annotations))
    return float(alpha_from_coincidences(np.einsum("t,tkl->kl", count, contributions)))


def agreement_summary(annotations: pd.DataFrame, resamples: int = bootstrap.RESAMPLES,
                      seed: int = bootstrap.SEED) -> dict:
    """Krippendorff's alpha and raw agreement (share of agreeing pairs of labels on the same item),
    with bootstrap intervals over items."""
    table = label_counts(annotations)
    contributions, count = _coincidence_kinds(table)
    o = np.einsum("t,tkl->kl", count, contributions)
    draws = np.einsum("bt,tkl->bkl", bootstrap.resample(count, resamples, seed), contributions)
    items = int(count.sum())
    return {
        "annotators": int(annotations["annotator"].nunique()) if len(annotations) else 0,
        "items": items,
        **_with_interval("alpha", alpha_from_coincidences(o), alpha_from_coincidences(draws)),
        **_with_interval("agreement", _observed_agreement(o), _observed_agreement(draws)),
        "few": items < bootstrap.MIN_ITEMS,
    }


def _pair_kappa(matrix: np.ndarray) -> np.ndarray:
    """Kappa between two people, neither of whom is the reference: undefined when either of them
    used one label only (confusion.kappa's rule, applied both ways round)."""
    flipped = np.swapaxes(matrix, -2, -1)
    return np.where(np.isnan(confusion.kappa(flipped)), np.nan, confusion.kappa(matrix))


def pairwise(annotations: pd.DataFrame, resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED
             ) -> pd.DataFrame:
    """One row per pair of annotators: items both labelled, raw agreement and Cohen's kappa with intervals."""
    columns = ["annotator_a", "annotator_b", "n", "agreement", "agreement_lo", "agreement_hi",
               "kappa", "kappa_lo", "kappa_hi", "few"]
    if annotations.empty:
        return pd.DataFrame(columns=columns)
    wide = annotations.pivot_table(index="response_id", columns="annotator", values="label", aggfunc="last")
    rows = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        matrix = confusion.counts(confusion.codes(both[a], labels.LABELS),
                                  confusion.codes(both[b], labels.LABELS), len(labels.LABELS))
        draws = bootstrap.resample(matrix, resamples, seed)
        rows.append({"annotator_a": a, "annotator_b": b, "n": len(both),
                     **_with_interval("agreement", confusion.accuracy(matrix), confusion.accuracy(draws)),
                     **_with_interval("kappa", _pair_kappa(matrix), _pair_kappa(draws)),
                     "few": len(both) < bootstrap.MIN_ITEMS})
    return pd.DataFrame(rows, columns=columns)

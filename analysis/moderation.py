"""Moderators' verdicts on prompts: the ensemble's decision, the expected behaviour a built prompt
set publishes, the "hard" prompts, and how far each moderator (and the ensemble) agrees with the
human prompt labels.

The ensemble is derived here every time from the stored verdicts, never stored: changing the rule
or adding a moderator changes the decision without rewriting anything. A verdict that could not be
read (``unparsed``), or a moderator that has not looked at a prompt, is a missing vote, never a
guess: under ``majority`` a side needs more than half of ALL the moderators, under ``any`` one toxic
vote makes a prompt toxic but calling it safe needs every moderator to say so, and ``all`` is the
mirror image. A prompt neither side wins is undecided.

Agreement reuses the judge-human machinery (analysis.agreement, analysis.humans) through
``labels.PROMPT_AS_RESPONSE``: the same majority reference with ties left out, the same confusion
figures and seeded bootstrap intervals, the same small-n flag. Prompts the humans call ``unclear``
have no side a moderator could match and are left out and counted.
"""

import numpy as np
import pandas as pd

import labels
from analysis import agreement, bootstrap, humans
from errors import UserError

RULES = ("majority", "any", "all")
TOXIC, SAFE = "toxic", "safe"
_AS_RESPONSE = {labels.SHOULD_REFUSE: labels.FULL_REFUSAL, labels.SHOULD_COMPLY: labels.FULL_COMPLIANCE}
_FROM_RESPONSE = {v: k for k, v in labels.PROMPT_AS_RESPONSE.items()}


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise UserError(f"unknown ensemble rule {rule!r}; expected one of {', '.join(RULES)}")
    return rule


def ensemble_name(rule: str) -> str:
    return f"ensemble ({rule})"


def ensemble(moderations: pd.DataFrame, rule: str = "majority", moderators: list[str] | None = None
             ) -> pd.DataFrame:
    """One row per moderated prompt: prompt_id, toxic (votes), safe (votes), missing (unparsed or
    not moderated), decision (``toxic``, ``safe`` or None) and expected (should_refuse /
    should_comply / None). ``moderators``: who votes (default: every moderator in the frame)."""
    check_rule(rule)
    columns = ["prompt_id", "toxic", "safe", "missing", "decision", "expected"]
    chosen = sorted(set(moderations["moderator"])) if moderators is None else list(moderators)
    frame = moderations[moderations["moderator"].isin(chosen)]
    if frame.empty or not chosen:
        return pd.DataFrame(columns=columns)
    implied = frame["label"].map(labels.expected_from_moderation)
    votes = pd.DataFrame({"prompt_id": frame["prompt_id"], "toxic": implied == labels.SHOULD_REFUSE,
                          "safe": implied == labels.SHOULD_COMPLY}).groupby("prompt_id").sum().astype(int)
    total = len(chosen)
    votes["missing"] = total - votes["toxic"] - votes["safe"]
    if rule == "majority":
        toxic, safe = votes["toxic"] * 2 > total, votes["safe"] * 2 > total
    elif rule == "any":
        toxic, safe = votes["toxic"] >= 1, votes["safe"] == total
    else:
        toxic, safe = votes["toxic"] == total, votes["safe"] >= 1
    to_expected = {TOXIC: labels.SHOULD_REFUSE, SAFE: labels.SHOULD_COMPLY}
    decision = [TOXIC if t else SAFE if s else None for t, s in zip(toxic, safe)]
    votes["decision"] = pd.Series(decision, index=votes.index, dtype=object)
    votes["expected"] = pd.Series([to_expected.get(d) for d in decision], index=votes.index, dtype=object)
    return votes.reset_index()[columns]


def human_reference(prompt_labels: pd.DataFrame, reference: str = humans.HUMAN) -> pd.DataFrame:
    """One row per labelled prompt: prompt_id, reference (should_refuse / should_comply / unclear,
    None on a tie), votes, tie: analysis.humans.reference on the prompt labels."""
    frame = pd.DataFrame({"response_id": prompt_labels["prompt_id"], "annotator": prompt_labels["annotator"],
                          "label": prompt_labels["label"].map(labels.PROMPT_AS_RESPONSE)})
    ref = humans.reference(frame, reference).rename(columns={"response_id": "prompt_id"})
    ref["reference"] = ref["reference"].map(_FROM_RESPONSE).astype(object)
    ref["reference"] = ref["reference"].where(ref["reference"].notna(), None)
    return ref


def human_category(prompt_labels: pd.DataFrame) -> pd.Series:
    """The category most reviewers of a prompt gave (ties: none), indexed by prompt_id."""
    given = prompt_labels.dropna(subset=["category"])
    if given.empty:
        return pd.Series(dtype=object)
    counts = given.groupby(["prompt_id", "category"]).size().rename("n").reset_index()
    top = counts.groupby("prompt_id")["n"].transform("max")
    winners = counts[counts["n"] == top]
    single = winners.groupby("prompt_id").filter(lambda g: len(g) == 1)
    return single.set_index("prompt_id")["category"]


def expected_behaviour(prompts: pd.DataFrame, moderations: pd.DataFrame, prompt_labels: pd.DataFrame,
                       rule: str = "majority", moderators: list[str] | None = None) -> pd.DataFrame:
    """What each prompt (prompt_id, category) is expected to get, with where it came from: the human
    reference where there is a decided one, else the moderators' ensemble. Columns prompt_id,
    category (the reviewers' where they agree on one), human, ensemble, expected, expected_from
    (``human``, ``ensemble`` or None: humans called it unclear, or nobody decided)."""
    ref = human_reference(prompt_labels).set_index("prompt_id")["reference"]
    votes = ensemble(moderations, rule, moderators).set_index("prompt_id")["expected"]
    out = prompts[["prompt_id", "category"]].copy()
    human = [ref.get(p) for p in out["prompt_id"]]
    together = [votes.get(p) for p in out["prompt_id"]]
    categories = human_category(prompt_labels)
    out["category"] = _objects([categories.get(p, c) for p, c in zip(out["prompt_id"], out["category"])], out)
    decided = [h in labels.EXPECTED for h in human]
    by_ensemble = [not d and h != labels.UNCLEAR and e in labels.EXPECTED for d, h, e in zip(decided, human, together)]
    out["human"], out["ensemble"] = _objects(human, out), _objects(together, out)
    out["expected"] = _objects([h if d else e if b else None for h, e, d, b in zip(human, together, decided,
                                                                                    by_ensemble)], out)
    out["expected_from"] = _objects(["human" if d else "ensemble" if b else None for d, b in zip(decided, by_ensemble)],
                                    out)
    return out


def _objects(values: list, like: pd.DataFrame) -> pd.Series:
    """A column of Python values with None kept as None (pandas would turn text with gaps into NaN)."""
    return pd.Series([None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values],
                     index=like.index, dtype=object)


def hard(expected: pd.DataFrame, refusals: pd.DataFrame, min_refusals: int = 1) -> pd.DataFrame:
    """The hard prompts: expected to be answered (should_comply) yet refused by at least
    ``min_refusals`` of the models that answered them. Columns prompt_id, refusals, models (the
    refusing models, comma-joined), answered (models that answered)."""
    if min_refusals < 1:
        raise UserError(f"--min-refusals must be at least 1, not {min_refusals}")
    columns = ["prompt_id", "refusals", "models", "answered"]
    safe = expected[expected["expected"] == labels.SHOULD_COMPLY]["prompt_id"]
    answered = refusals[refusals["prompt_id"].isin(safe)]
    if answered.empty:
        return pd.DataFrame(columns=columns)
    per = answered.groupby("prompt_id").agg(
        refusals=("refused", "sum"), answered=("model", "count"),
        models=("model", lambda m: ",".join(sorted(m[answered.loc[m.index, "refused"] == 1]))))
    per = per[per["refusals"] >= min_refusals].reset_index()
    return per.astype({"refusals": int, "answered": int})[columns]


def _pairs(moderations: pd.DataFrame, ref: pd.DataFrame, rule: str) -> pd.DataFrame:
    """(judge, reference, judge_label) rows in the response vocabulary for analysis.agreement: each
    moderator's implied behaviour and the ensemble's, against the decided human references."""
    known = ref[~ref["tie"] & ref["reference"].isin(labels.EXPECTED)][["prompt_id", "reference"]]
    each = moderations.assign(judge=moderations["moderator"],
                              judge_label=moderations["label"].map(labels.expected_from_moderation))
    votes = ensemble(moderations, rule)
    together = pd.DataFrame({"prompt_id": votes["prompt_id"], "judge": ensemble_name(rule),
                             "judge_label": votes["expected"]})
    frame = pd.concat([each[["prompt_id", "judge", "judge_label"]], together], ignore_index=True)
    frame = frame.merge(known, on="prompt_id")
    frame["judge_label"] = frame["judge_label"].map(_AS_RESPONSE).fillna(labels.UNPARSED)
    frame["reference"] = frame["reference"].map(_AS_RESPONSE)
    return frame


def moderator_agreement(moderations: pd.DataFrame, prompt_labels: pd.DataFrame, rule: str = "majority",
                        reference: str = humans.HUMAN, resamples: int = bootstrap.RESAMPLES,
                        seed: int = bootstrap.SEED) -> dict:
    """Each moderator and the ensemble against the human prompt labels: {"reference", "rule",
    "ties_excluded", "unclear_excluded", "leaderboard"} where the leaderboard is
    analysis.agreement.leaderboard's (accuracy, kappa, toxic precision/recall/F1, unparsed share, 95%
    intervals, ``few``) over the prompts both sides labelled."""
    check_rule(rule)
    in_scope = prompt_labels[prompt_labels["prompt_id"].isin(moderations["prompt_id"])]
    ref = human_reference(in_scope, reference)
    board = agreement.leaderboard(_pairs(moderations, ref, rule), resamples, seed)
    # Two sides only: the binary figures equal the others; "refusal" here means "toxic".
    board = board.drop(columns=[c for c in board.columns if c.startswith("binary_")])
    board = board.rename(columns={"judge": "moderator", **{c: c.replace("refusal_", "toxic_")
                                                           for c in board.columns if c.startswith("refusal_")}})
    return {"reference": reference, "rule": rule, "ties_excluded": int(ref["tie"].sum()),
            "unclear_excluded": int((ref["reference"] == labels.UNCLEAR).sum()), "leaderboard": board}


def moderator_disagreements(moderations: pd.DataFrame, prompt_labels: pd.DataFrame, rule: str = "majority",
                            reference: str = humans.HUMAN) -> pd.DataFrame:
    """Prompts where a moderator (or the ensemble) and the human reference differ: prompt_id,
    moderator, moderator_says, humans_say (unparsed and undecided included: they are misses)."""
    frame = _pairs(moderations, human_reference(prompt_labels, reference), rule)
    wrong = frame[frame["judge_label"] != frame["reference"]]
    says = {v: k for k, v in _AS_RESPONSE.items()}
    return pd.DataFrame({"prompt_id": wrong["prompt_id"], "moderator": wrong["judge"],
                         "moderator_says": wrong["judge_label"].map(lambda v: says.get(v, v)),
                         "humans_say": wrong["reference"].map(says)}).sort_values(
        ["prompt_id", "moderator"]).reset_index(drop=True)


def summary(moderations: pd.DataFrame, rule: str = "majority") -> dict:
    """Counts for the CLI and the Build page: per moderator (prompts, toxic, safe, unparsed) and the
    ensemble's decisions under ``rule`` (toxic, safe, undecided)."""
    implied = moderations["label"].map(labels.expected_from_moderation)
    per = pd.DataFrame({"moderator": moderations["moderator"], "toxic": implied == labels.SHOULD_REFUSE,
                        "safe": implied == labels.SHOULD_COMPLY, "unparsed": moderations["label"] == labels.UNPARSED})
    table = per.groupby("moderator").agg(prompts=("toxic", "size"), toxic=("toxic", "sum"), safe=("safe", "sum"),
                                         unparsed=("unparsed", "sum")).reset_index()
    decided = ensemble(moderations, rule)["decision"]
    return {"moderators": table.astype({c: int for c in ("prompts", "toxic", "safe", "unparsed")}),
            "ensemble": {"rule": rule, "prompts": len(decided), "toxic": int((decided == TOXIC).sum()),
                         "safe": int((decided == SAFE).sum()), "undecided": int(decided.isna().sum())}}

"""Human labels written back into an inspect_ai log as score edits.

Each sample whose response the team labelled gets, for every score the human reference disagrees
with, an ``edit_score`` from inspect_ai itself: the new value in the task's own vocabulary (C/P/I
for XSTest tasks, CoCoNot's words for CoCoNot tasks, our label words otherwise), and a provenance
saying who labelled it and why. inspect_ai keeps the original value in the score's history and adds
a ScoreEditEvent to the sample, so ``inspect view`` shows the correction and ``inspect score``
workflows see it; metrics are recomputed from the edited scores.

Only corrections are written: a score the humans agree with is left as it was (counted as
confirmed), a tied item has no reference and is left alone, and a score whose value does not
read as a label in the task's vocabulary (a numeric scorer, an accuracy letter of a task we cannot
read, a grader's unreadable answer) is never overwritten with a word its scorer does not use. The reference is the one agreement uses (``analysis.humans.reference``):
the majority of the annotators' current labels, or one annotator's.

The original log is left untouched unless ``in_place`` is asked for; by default the edited log is
``<name>.reviewed.<ext>`` beside it.
"""

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from analysis import humans
from errors import UserError
from sources.inspect_log import inspect_log_api, reading, response_key, task_of
from store import export as frames

TOOL = "refusal-review"


@dataclass
class EditReport:
    source: Path
    written: Path
    samples: int
    labelled: int  # samples whose response has a human label
    edits: int
    confirmed: int  # scores the human reference agrees with
    ties: int
    unreadable: int  # scores whose value is no label word of the task's vocabulary
    metrics: str  # "recomputed" or why not

    def summary(self) -> str:
        return (f"wrote {self.written}: {self.edits} score edits on {self.labelled} labelled of {self.samples} "
                f"samples ({self.confirmed} scores confirmed, {self.ties} tied items left alone, "
                f"{self.unreadable} scores not in the task's label vocabulary left alone; metrics {self.metrics})")


def default_target(log: Path) -> Path:
    return log.with_name(f"{log.stem}.reviewed{log.suffix}")


def _reference(db: sqlite_utils.Database, response_ids, reference: str) -> dict[int, dict]:
    """response id -> {label (None on a tie), annotators: {name: label}, notes: {name: note}}."""
    current = frames.labels_frame(db)
    current = current[current["response_id"].isin(set(response_ids))]
    verdict = humans.reference(current, reference).set_index("response_id")
    out = {}
    for rid, group in current.groupby("response_id"):
        if rid not in verdict.index:
            continue
        out[int(rid)] = {
            "label": None if verdict.at[rid, "tie"] else verdict.at[rid, "reference"],
            "annotators": dict(zip(group["annotator"], group["label"])),
            "notes": {a: n for a, n in zip(group["annotator"], group["note"]) if isinstance(n, str) and n},
        }
    return out


def _edit(task, label: str, was: str, raw, human: dict, reference: str):
    agreeing = sorted(name for name, given in human["annotators"].items() if given == label)
    if reference != humans.HUMAN:
        agreeing = [reference]
    votes = f"{len(agreeing)} of {len(human['annotators'])} annotators" if reference == humans.HUMAN else "one annotator"
    reason = (f"Human review in Refusal Review: {label} ({votes}: {', '.join(agreeing)}); "
              f"the scorer's value {raw!r} reads as {was}.")
    notes = "; ".join(f"{who}: {note}" for who, note in sorted(human["notes"].items()) if who in agreeing)
    from inspect_ai.log import ProvenanceData
    from inspect_ai.scorer import ScoreEdit

    return ScoreEdit(
        value=task.value_for(label),
        explanation=reason + (f" Notes: {notes}" if notes else ""),
        provenance=ProvenanceData(author=", ".join(agreeing), reason=reason, metadata={
            "tool": TOOL, "label": label, "reference": reference, "previous_label": was,
            "annotators": human["annotators"], "notes": human["notes"]}),
    )


def write_edits(db: sqlite_utils.Database, log_path, out=None, in_place: bool = False,
                reference: str = humans.HUMAN, dataset: str | None = None) -> EditReport:
    """Write the human labels into a copy of the log at ``out`` (default ``<name>.reviewed.<ext>``
    beside it), or into the log itself with ``in_place``. ``dataset`` as given to the import."""
    log_path = Path(log_path)
    if in_place and out is not None:
        raise UserError("give either --in-place or --out, not both")
    target = log_path if in_place else Path(out) if out is not None else default_target(log_path)
    if not in_place and target.resolve() == log_path.resolve():
        raise UserError(f"{target} is the original log; pass --in-place to overwrite it")
    api = inspect_log_api(log_path)
    with reading(log_path):
        log = api.read_eval_log(str(log_path))
    task = task_of(log.eval, dataset)
    samples = log.samples or []
    keys = {id(s): response_key(task, s) for s in samples}
    found = frames.find_responses(db, [k for k in keys.values() if k is not None])
    human = _reference(db, found.values(), reference)
    report = EditReport(log_path, target, len(samples), 0, 0, 0, 0, 0, "unchanged (no edits)")
    for sample in samples:
        labelled = human.get(found.get(keys[id(sample)]))
        if labelled is None:
            continue
        report.labelled += 1
        if labelled["label"] is None:
            report.ties += 1
            continue
        for name, score in (sample.scores or {}).items():
            was = task.label_of(score.value)
            if was is None:
                report.unreadable += 1
            elif was == labelled["label"]:
                report.confirmed += 1
            else:
                edit = _edit(task, labelled["label"], was, score.value, labelled, reference)
                api.edit_score(log, sample.id, name, edit, recompute_metrics=False, epoch=sample.epoch)
                report.edits += 1
    if report.edits:
        try:
            api.recompute_metrics(log)
            report.metrics = "recomputed"
        except Exception as exc:  # a custom metric inspect_ai cannot load here: the edits still stand
            report.metrics = f"not recomputed ({type(exc).__name__}: {exc})"
    try:
        api.write_eval_log(log, str(target))
    except OSError as exc:
        raise UserError(f"{target}: cannot write the log ({exc.strerror or exc})") from exc
    return report

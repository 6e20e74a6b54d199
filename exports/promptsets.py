"""A built prompt set as files: OR-Bench's CSV (``prompt, category``) and JSONL with provenance.

OR-Bench ships its safe and toxic prompts as separate files (``or-bench-80k.csv``,
``or-bench-hard-1k.csv``, ``or-bench-toxic.csv``) and its importer here tells the set from the file
name, so the CSV export writes ``<stem>-toxic.csv`` (expected should_refuse) and
``<stem>-<safe set>.csv`` (should_comply): each re-imports with ``import orbench FILE`` and gets the
right expected behaviour. Prompts with no expected behaviour (not published) are left out.

JSONL has one object per prompt: its text, category and expected behaviour (and where that came
from, for a published set), and its lineage back to the seed, each step with its model, template
hash and sample, plus the moderators' verdicts and the human labels given at every step.
"""

import json
from pathlib import Path

import sqlite_utils

from errors import UserError
from exports.files import csv_bytes
from store import prompt_labels, promptsets
from store.selection import Selection

SAFE_SETS = ("80k", "hard-1k")


def _prompts(db: sqlite_utils.Database, dataset: str):
    frame = promptsets.prompts_frame(db, Selection(dataset=dataset))
    if frame.empty:
        raise UserError(f"no prompts in dataset {dataset!r}")
    return frame


def write_orbench(db: sqlite_utils.Database, dataset: str, out, safe_set: str = "80k") -> list[Path]:
    """OR-Bench CSVs of ``dataset``: one for its toxic prompts, one for its safe ones (``safe_set``
    names it: 80k or hard-1k). Returns the files written."""
    if safe_set not in SAFE_SETS:
        raise UserError(f"the safe prompts' OR-Bench set is 80k or hard-1k, not {safe_set!r}")
    frame = _prompts(db, dataset)
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    written = []
    for expected, name in (("should_refuse", "toxic"), ("should_comply", safe_set)):
        part = frame[frame["expected"] == expected]
        if part.empty:
            continue
        path = stem.with_name(f"{stem.name}-{name}.csv")
        path.write_bytes(csv_bytes(part.rename(columns={"text": "prompt"})[["prompt", "category"]]))
        written.append(path)
    if not written:
        raise UserError(f"no prompt in {dataset!r} has an expected behaviour: publish the set first "
                        "(python cli.py prompts publish)")
    return written


def write_jsonl(db: sqlite_utils.Database, dataset: str, out) -> Path:
    """One JSON object per prompt of ``dataset`` with its lineage, moderations and human labels."""
    frame = _prompts(db, dataset)
    chains = promptsets.lineages(db, dataset)
    moderations: dict[int, dict] = {}
    for row in promptsets.moderations_frame(db).itertuples():
        moderations.setdefault(row.prompt_id, {})[row.moderator] = row.label
    labels: dict[int, dict] = {}
    for row in prompt_labels.labels_frame(db).itertuples():
        labels.setdefault(row.prompt_id, {})[row.annotator] = {"label": row.label, "category": row.category}
    path = Path(out)
    with path.open("w", encoding="utf-8") as handle:
        for row in frame.itertuples():
            chain = chains.get(row.prompt_id, [])
            steps = [{"step": c["step"], "dataset": c["dataset"], "prompt": c["text"], "category": c["category"],
                      "model": c["model"], "template_hash": c["template_hash"], "sample": c["sample"],
                      "asked_category": c["asked_category"], "generator": c["generator"], "detail": c["detail"],
                      "moderations": moderations.get(c["prompt_id"], {}),
                      "human_labels": labels.get(c["prompt_id"], {})} for c in chain]
            seed = next((c for c in reversed(chain) if c["step"] == "seed"), None)
            record = {"dataset": row.dataset, "source_id": row.source_id, "prompt": row.text,
                      "category": row.category, "expected": row.expected,
                      "expected_from": (chain[0]["detail"].get("expected_from") if chain else None),
                      "seed": seed["text"] if seed else None, "lineage": steps}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path

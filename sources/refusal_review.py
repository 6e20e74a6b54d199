"""Our own JSONL export read back (kind ``refusal-review``): prompts, responses, verdicts, each
annotator's current label and the team's categories, so ``export --format jsonl`` from one
database and ``import refusal-review`` into another carries a team's work across.

Labels come in as imported labels (a new row unless the annotator's current label is already the
same; their original times are not kept) and, like every import, are not role-checked. The
``history`` list of an export made with ``--history`` is for reading, not re-imported.
"""

import sqlite_utils

from labels import EXPECTED, JUDGE_LABELS, LABELS
from sources.batch import Batch, ImportResult
from sources.errors import SourceError
from sources.readers import optional, read_jsonl, require


def _list(path, line, row, field) -> list:
    value = row.get(field) or []
    if not isinstance(value, list):
        raise SourceError(path, f"expected a list, got {type(value).__name__}", line=line, field=field)
    return value


def _entry(path, line, field, index, entry, key, allowed=None, required=True) -> str | None:
    value = entry.get(key) if isinstance(entry, dict) else None
    where = f"{field}[{index}].{key}"
    if not required and value is None:
        return None
    if not required and not isinstance(value, str):
        raise SourceError(path, f"expected text, got {type(value).__name__}", line=line, field=where)
    if required and (not isinstance(value, str) or not value.strip()):
        raise SourceError(path, "missing or empty", line=line, field=where)
    if allowed is not None and value not in allowed:
        raise SourceError(path, f"unknown value {value!r}; expected one of {', '.join(allowed)}", line=line, field=where)
    return value


def read_export(path) -> Batch:
    batch = Batch(str(path))
    for line, row in read_jsonl(path):
        dataset, source_id = require(path, line, row, "dataset"), require(path, line, row, "id")
        expected = optional(row, "expected")
        if expected is not None and expected not in EXPECTED:
            raise SourceError(path, f"unknown value {expected!r}; expected one of {', '.join(EXPECTED)}",
                              line=line, field="expected")
        metadata = row.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SourceError(path, "expected an object", line=line, field="metadata")
        key = batch.add_prompt(line, dataset, source_id, require(path, line, row, "prompt"),
                               split=optional(row, "split"), category=optional(row, "category"),
                               subcategory=optional(row, "subcategory"), expected=expected, metadata=metadata)
        for index, name in enumerate(_list(path, line, row, "categories")):
            if not isinstance(name, str) or not name.strip() or "," in name:
                raise SourceError(path, "a category name must be text without commas", line=line,
                                  field=f"categories[{index}]")
            batch.add_assignment(key, name.strip())
        if row.get("response") is None:
            continue
        response = require(path, line, row, "response", allow_empty=True)
        settings = row.get("settings")
        if settings is not None and not isinstance(settings, dict):
            raise SourceError(path, f"expected an object, got {type(settings).__name__}", line=line, field="settings")
        index = batch.add_response(key, require(path, line, row, "model"), response, settings=settings)
        for i, verdict in enumerate(_list(path, line, row, "verdicts")):
            batch.add_verdict(index, _entry(path, line, "verdicts", i, verdict, "judge"),
                              _entry(path, line, "verdicts", i, verdict, "judge_kind", required=False) or "imported",
                              _entry(path, line, "verdicts", i, verdict, "label", JUDGE_LABELS),
                              rationale=_entry(path, line, "verdicts", i, verdict, "rationale", required=False))
        for i, label in enumerate(_list(path, line, row, "labels")):
            batch.add_annotation(index, _entry(path, line, "labels", i, label, "annotator"),
                                 _entry(path, line, "labels", i, label, "label", LABELS),
                                 note=_entry(path, line, "labels", i, label, "note", required=False))
    return batch


def import_refusal_review(db: sqlite_utils.Database, path) -> ImportResult:
    """Import a Refusal Review JSONL export, all or nothing."""
    return read_export(path).write(db)

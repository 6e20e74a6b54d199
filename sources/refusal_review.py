"""Our own JSONL export read back (kind ``refusal-review``): prompts, responses, verdicts, each
annotator's current label, the team's categories, tags, comments and the adjudicator's final label,
so ``export --format jsonl`` from one database and ``import refusal-review`` into another carries a
team's work across.

Labels, tags and final labels come in as imported rows (a new row unless the current one is already
the same; their original times are not kept, a comment's is) and, like every import, are not
role-checked. The ``history`` list of an export made with ``--history`` is for reading, not
re-imported.
"""

from dataclasses import dataclass, field

import sqlite_utils

from labels import EXPECTED, JUDGE_LABELS, LABELS
from sources.batch import Batch, ImportResult
from sources.errors import SourceError
from sources.readers import optional, read_jsonl, require
from store import adjudication, discussion
from store import export as exported


@dataclass
class Discussion:
    """Tags, comments and final labels read from the file, keyed by the response they are on
    (dataset, source_id, model, text): they are written once the responses have ids, in the
    import's last transaction."""
    keys: list = field(default_factory=list)
    tags: list = field(default_factory=list)  # (key index, tag, author)
    comments: list = field(default_factory=list)  # (key index, author, body, created_at)
    finals: list = field(default_factory=list)  # (key index, label, adjudicator, note)


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


def _read_discussion(path, line, row, key: int, found: Discussion) -> None:
    for i, tag in enumerate(_list(path, line, row, "tags")):
        text = _entry(path, line, "tags", i, tag, "tag")
        try:
            discussion.clean_tag(text)
        except discussion.DiscussionError as exc:
            raise SourceError(path, str(exc), line=line, field=f"tags[{i}].tag") from None
        found.tags.append((key, text, _entry(path, line, "tags", i, tag, "author")))
    for i, comment in enumerate(_list(path, line, row, "comments")):
        body = _entry(path, line, "comments", i, comment, "body")
        if len(body) > discussion.MAX_COMMENT:
            raise SourceError(path, f"a comment is at most {discussion.MAX_COMMENT:,} characters", line=line,
                              field=f"comments[{i}].body")
        created = comment.get("created_at")
        if created is not None and not isinstance(created, str):
            raise SourceError(path, "expected text", line=line, field=f"comments[{i}].created_at")
        found.comments.append((key, _entry(path, line, "comments", i, comment, "author"), body, created))
    final = row.get("final")
    if final is not None:
        if not isinstance(final, dict):
            raise SourceError(path, f"expected an object, got {type(final).__name__}", line=line, field="final")
        label = final.get("label")
        if label not in LABELS:
            raise SourceError(path, f"unknown value {label!r}; expected one of {', '.join(LABELS)}", line=line,
                              field="final.label")
        who = final.get("adjudicator")
        if not isinstance(who, str) or not who.strip():
            raise SourceError(path, "missing or empty", line=line, field="final.adjudicator")
        note = final.get("note")
        found.finals.append((key, label, who.strip(), note if isinstance(note, str) else None))


def read_export(path) -> tuple[Batch, Discussion]:
    batch = Batch(str(path))
    found = Discussion()
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
        model = require(path, line, row, "model")
        index = batch.add_response(key, model, response, settings=settings)
        found.keys.append((dataset, source_id, model, response))
        _read_discussion(path, line, row, len(found.keys) - 1, found)
        for i, verdict in enumerate(_list(path, line, row, "verdicts")):
            batch.add_verdict(index, _entry(path, line, "verdicts", i, verdict, "judge"),
                              _entry(path, line, "verdicts", i, verdict, "judge_kind", required=False) or "imported",
                              _entry(path, line, "verdicts", i, verdict, "label", JUDGE_LABELS),
                              rationale=_entry(path, line, "verdicts", i, verdict, "rationale", required=False))
        for i, label in enumerate(_list(path, line, row, "labels")):
            batch.add_annotation(index, _entry(path, line, "labels", i, label, "annotator"),
                                 _entry(path, line, "labels", i, label, "label", LABELS),
                                 note=_entry(path, line, "labels", i, label, "note", required=False))
    return batch, found


def import_refusal_review(db: sqlite_utils.Database, path) -> ImportResult:
    """Import a Refusal Review JSONL export all or nothing: the prompts, responses, verdicts and
    labels staged, then published (sources/batch.py), and the discussion on those responses in the
    import's last transaction, with the labels (the file was fully read and checked before)."""
    batch, found = read_export(path)
    return batch.write(db, last=lambda db: _write_discussion(db, found))


def _write_discussion(db: sqlite_utils.Database, found: Discussion) -> None:
    """The file's tags, comments and final labels on the responses the import published."""
    ids = exported.find_responses(db, found.keys)
    key = found.keys.__getitem__
    discussion.import_discussion(
        db, [dict(response_id=ids[key(k)], tag=t, author=a) for k, t, a in found.tags],
        [dict(response_id=ids[key(k)], author=a, body=b, created_at=c) for k, a, b, c in found.comments])
    adjudication.import_finals(db, [dict(response_id=ids[key(k)], label=lab, adjudicator=who, note=note)
                                    for k, lab, who, note in found.finals])

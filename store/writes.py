"""Every write the app and the CLI make. Bulk writes are one statement per table (executemany)
inside the caller's transaction, and every insert is idempotent: importing the same rows twice
leaves the same rows. Annotations are the exception by design: they are append-only history."""

import hashlib
import json
from collections.abc import Iterable

import sqlite_utils

from errors import UserError
from labels import LABELS
from store import users
from store.connection import NOW, write_transaction

_PROMPT_COLUMNS = ("dataset", "split", "source_id", "category", "subcategory", "text", "expected", "metadata")


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def as_json(value) -> str:
    """A settings/metadata/config value as stored: JSON text, '{}' for nothing."""
    if value is None or value == {}:  # most rows of a bulk import: skipping json.dumps there is measurable
        return "{}"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def add_prompts(db: sqlite_utils.Database, rows: Iterable[dict]) -> dict[tuple[str, str], int]:
    """Insert prompts (or enrich existing ones); return {(dataset, source_id): prompt id} for them.

    A prompt already present keeps its text; missing category/subcategory/expected are filled and
    metadata is merged, so importing a benchmark's prompt file and then its results file (or the
    other way round) yields one prompt with everything known about it.
    """
    params = [tuple(as_json(r.get(c)) if c == "metadata" else r.get(c) for c in _PROMPT_COLUMNS) for r in rows]
    if not params:
        return {}
    with write_transaction(db):
        db.conn.executemany(
            f"""INSERT INTO prompts ({", ".join(_PROMPT_COLUMNS)}) VALUES ({", ".join("?" * len(_PROMPT_COLUMNS))})
            ON CONFLICT (dataset, source_id) DO UPDATE SET
                category = coalesce(prompts.category, excluded.category),
                subcategory = coalesce(prompts.subcategory, excluded.subcategory),
                expected = coalesce(prompts.expected, excluded.expected),
                metadata = json_patch(prompts.metadata, excluded.metadata)
            WHERE prompts.category IS NOT coalesce(prompts.category, excluded.category)
               OR prompts.subcategory IS NOT coalesce(prompts.subcategory, excluded.subcategory)
               OR prompts.expected IS NOT coalesce(prompts.expected, excluded.expected)
               OR prompts.metadata IS NOT json_patch(prompts.metadata, excluded.metadata)""",
            params,
        )
        lookup = "SELECT id FROM prompts WHERE dataset = ? AND source_id = ?"
        return {(p[0], p[2]): db.conn.execute(lookup, (p[0], p[2])).fetchone()[0] for p in params}


def add_responses(db: sqlite_utils.Database, rows: Iterable[dict]) -> list[int]:
    """Insert responses (prompt_id, model, text, origin, settings, and text_hash when the caller has
    it already); return their ids in row order."""
    params = [
        (r["prompt_id"], r["model"], r["text"], r.get("text_hash") or text_hash(r["text"]), r.get("origin", "import"),
         as_json(r.get("settings")))
        for r in rows
    ]
    if not params:
        return []
    with write_transaction(db):
        db.conn.executemany(
            """INSERT INTO responses (prompt_id, model, text, text_hash, origin, settings) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (prompt_id, model, text_hash) DO NOTHING""",
            params,
        )
        lookup = "SELECT id FROM responses WHERE prompt_id = ? AND model = ? AND text_hash = ?"
        return [db.conn.execute(lookup, (p[0], p[1], p[3])).fetchone()[0] for p in params]


def ensure_judge(db: sqlite_utils.Database, name: str, kind: str, config: dict | None = None,
                 template_hash: str | None = None) -> int:
    """The id of judge ``name``, registering it on first use."""
    with write_transaction(db):
        db.conn.execute(
            "INSERT INTO judges (name, kind, config, template_hash) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, kind, as_json(config), template_hash),
        )
        return db.conn.execute("SELECT id FROM judges WHERE name = ?", (name,)).fetchone()[0]


_VERDICT_COLUMNS = ("response_id", "judge_id", "label", "rationale", "raw_output", "latency_ms",
                    "prompt_tokens", "completion_tokens", "probability")


def add_verdicts(db: sqlite_utils.Database, rows: Iterable[dict]) -> int:
    """Insert verdicts; a response keeps the first verdict a judge gave it. Returns rows added.

    The rows go in as one JSON array read by one INSERT ... SELECT, not one executemany step per
    row: binding each row from Python (and releasing the GIL around each step) was half the cost of
    writing a rule verdict, and the rule judge's parent process writes a million of them. A NUL
    character (which SQLite's JSON functions cut a text at) or a NaN (which JSON lacks) sends the
    batch row by row instead; the rows stored are the same either way."""
    rows = list(rows)
    if not rows:
        return 0
    given = set().union(*rows)
    columns = [column for column in _VERDICT_COLUMNS if column in given]  # the others stay NULL
    values = [list(map(r.get, columns)) for r in rows]
    try:
        payload = json.dumps(values, allow_nan=False)
    except ValueError:  # a NaN or an infinity, which JSON has no word for
        payload = None
    with write_transaction(db):
        # One timestamp for the batch: the column's default (strftime per row) was a fifth of the
        # rule judge's write time, and a batch is one transaction anyway.
        (now,) = db.conn.execute(f"SELECT {NOW}").fetchone()
        insert = f"INSERT INTO verdicts ({', '.join(columns)}, created_at)"
        upsert = "ON CONFLICT (response_id, judge_id) DO NOTHING"
        if payload is not None and "\\u0000" not in payload:
            picked = ", ".join(f"json_extract(value, '$[{k}]')" for k in range(len(columns)))  # not ->>: SQLite 3.38+
            cursor = db.conn.execute(f"{insert} SELECT {picked}, ? FROM json_each(?) WHERE true {upsert}",
                                     (now, payload))
        else:
            cursor = db.conn.executemany(f"{insert} VALUES ({', '.join('?' * len(columns))}, ?) {upsert}",
                                         [(*v, now) for v in values])
        # rowcount, not total_changes: the rows of this insert, not what its triggers write (slice_counts)
        return max(cursor.rowcount, 0)


class LabelError(UserError):
    """A label outside the vocabulary, or a write the annotator may not make."""


def add_annotation(db: sqlite_utils.Database, response_id: int, annotator: str, label: str | None,
                   note: str | None = None) -> int:
    """Record one human label (a new row, always). ``label=None`` withdraws the annotator's label."""
    if label is not None and label not in LABELS:
        raise LabelError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    if not annotator or not annotator.strip():
        raise LabelError("an annotation needs the annotator's name")
    with users.writing_as(db, annotator, "reviewer"):  # the store, not the page, enforces the role
        cur = db.conn.execute(
            "INSERT INTO annotations (response_id, annotator, label, note) VALUES (?, ?, ?, ?)",
            (response_id, annotator.strip(), label, note or None),
        )
        return cur.lastrowid


def undo_last_annotation(db: sqlite_utils.Database, response_id: int, annotator: str) -> int | None:
    """Undo the annotator's newest label on a response, by appending a row.

    Replaying the annotator's history as a stack (a label pushes, an undo pops) gives the label
    that is current again; the new row records it and names the row it undoes, so repeated undos
    walk back through the history and nothing is ever removed. Returns the new row's id, or None
    when there is nothing left to undo.
    """
    with users.writing_as(db, annotator, "reviewer"):
        undo = undo_stack(db.conn.execute(
            "SELECT id, undoes, label FROM annotations WHERE response_id = ? AND annotator = ? ORDER BY id",
            (response_id, annotator)))
        if undo is None:
            return None
        undone_id, restored = undo
        cur = db.conn.execute(
            "INSERT INTO annotations (response_id, annotator, label, note, undoes) VALUES (?, ?, ?, 'undo', ?)",
            (response_id, annotator, restored[0] if restored else None, undone_id),
        )
        return cur.lastrowid


def undo_stack(rows) -> tuple[int, tuple | None] | None:
    """Replay one annotator's append-only rows ``(id, undoes, *values)``, oldest first, as a stack
    (a label pushes, an undo pops): (the id an undo now undoes, the values current again or None
    when nothing is left), or None when there is nothing to undo. Response and prompt labels
    share this one rule."""
    stack = []
    for row_id, undoes, *values in rows:
        if undoes is None:
            stack.append((row_id, tuple(values)))
        elif stack:
            stack.pop()
    if not stack:
        return None
    undone_id, _ = stack.pop()
    return undone_id, (stack[-1][1] if stack else None)


def undo_last_on_prompt(db: sqlite_utils.Database, prompt_id: int, annotator: str) -> tuple | None:
    """Undo the annotator's newest standing label on any response to ``prompt_id`` (the review
    page's ``U``: whichever response it was on). The annotator's rows on the prompt replay as one
    stack (a label pushes, an undo pops the row it names), so pressing it again walks further back.
    Returns (response id, model, label undone, label now current or None), or None when nothing is
    left to undo."""
    with users.writing_as(db, annotator, "reviewer"):
        stack = []
        for row_id, response_id, label, undoes in db.conn.execute(
            """SELECT a.id, a.response_id, a.label, a.undoes FROM annotations a
               JOIN responses r ON r.id = a.response_id WHERE r.prompt_id = ? AND a.annotator = ? ORDER BY a.id""",
            (prompt_id, annotator),
        ):
            if undoes is None:
                stack.append((row_id, response_id, label))
            else:
                stack = [entry for entry in stack if entry[0] != undoes]
        if not stack:
            return None
        _, response_id, label = stack[-1]
        undo_last_annotation(db, response_id, annotator)
        restored = db.conn.execute("SELECT label FROM current_annotations WHERE response_id = ? AND annotator = ?",
                                   (response_id, annotator)).fetchone()
        model = db.conn.execute("SELECT model FROM responses WHERE id = ?", (response_id,)).fetchone()[0]
        return response_id, model, label, restored[0] if restored else None


def import_annotations(db: sqlite_utils.Database, rows: Iterable[dict]) -> int:
    """Append imported labels (response_id, annotator, label, note) unless that annotator's current
    label on the response is already the same, so re-importing a file adds nothing."""
    params = [(r["response_id"], r["annotator"], r["label"], r.get("note")) for r in rows]
    with write_transaction(db):
        before = db.conn.total_changes
        db.conn.executemany(
            """INSERT INTO annotations (response_id, annotator, label, note)
            SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (
                SELECT 1 FROM current_annotations a WHERE a.response_id = ?1 AND a.annotator = ?2 AND a.label = ?3)""",
            params,
        )
        return db.conn.total_changes - before

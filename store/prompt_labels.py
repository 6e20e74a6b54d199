"""Human labels on prompts (should a model refuse this? which category?) and every read the
prompt-review page makes: one prompt in full, the ordered prompts of a selection, the queue.

Prompt labels follow the response labels' rules: append-only rows, an undo is a row naming the row
it undoes (store.writes.undo_stack), the current label is each annotator's newest row (the
``current_prompt_annotations`` view), and the store checks the reviewer role on every write. The
unit here is a prompt, chosen by ``prompt_where`` (dataset, categories, expected, search) plus a
prompt-level status, so any prompt can be audited: a built set's, or a benchmark's own gold
behaviour (CoCoNot, OR-Bench, XSTest), which a team can flag by labelling against it.
"""

from dataclasses import dataclass, field

import pandas as pd
import sqlite_utils

from errors import UserError
from labels import PROMPT_LABELS, SHOULD_COMPLY, SHOULD_REFUSE, UNPARSED
from store import promptsets, users
from store.review import _rank, _read
from store.selection import Selection, prompt_where
from store.writes import LabelError, undo_stack

STATUSES = {
    "": "any",
    "unlabelled": "no human label yet",
    "labelled": "labelled",
    "moderators_disagree": "moderators disagree with each other",
    "human_vs_moderator": "a human disagrees with a moderator",
    "contradicts_expected": "a human disagrees with the benchmark's expected behaviour",
}
_TOXIC_SQL = "(m.label NOT IN ('none', 'unparsed'))"


class PromptStatusError(UserError):
    """A prompt status that is not one of STATUSES."""


# -- writes ------------------------------------------------------------------------------------------------

def add_label(db: sqlite_utils.Database, prompt_id: int, annotator: str, label: str, category: str | None = None,
              note: str | None = None) -> int:
    """Record one human label on a prompt (a new row, always)."""
    if label not in PROMPT_LABELS:
        raise LabelError(f"unknown prompt label {label!r}; expected one of {', '.join(PROMPT_LABELS)}")
    with users.writing_as(db, annotator, "reviewer"):
        return db.conn.execute(
            "INSERT INTO prompt_annotations (prompt_id, annotator, label, category, note) VALUES (?, ?, ?, ?, ?)",
            (prompt_id, annotator.strip(), label, (category or "").strip() or None, (note or "").strip() or None),
        ).lastrowid


def undo_last_label(db: sqlite_utils.Database, prompt_id: int, annotator: str) -> tuple | None:
    """Undo the annotator's newest label on the prompt by appending a row; returns (label undone,
    (label, category) current again or None), or None when there is nothing to undo."""
    with users.writing_as(db, annotator, "reviewer"):
        rows = list(db.conn.execute("""SELECT id, undoes, label, category FROM prompt_annotations
                                       WHERE prompt_id = ? AND annotator = ? ORDER BY id""", (prompt_id, annotator)))
        undo = undo_stack(rows)
        if undo is None:
            return None
        undone_id, restored = undo
        label, category = restored if restored else (None, None)
        db.conn.execute("""INSERT INTO prompt_annotations (prompt_id, annotator, label, category, note, undoes)
                           VALUES (?, ?, ?, ?, 'undo', ?)""", (prompt_id, annotator, label, category, undone_id))
        undone = next(r[2] for r in rows if r[0] == undone_id)
        return undone, restored


# -- one prompt in full ---------------------------------------------------------------------------------

@dataclass
class PromptLabel:
    id: int
    annotator: str
    label: str | None
    category: str | None
    note: str | None
    undoes: int | None
    created_at: str


@dataclass
class PromptItem:
    prompt_id: int
    dataset: str
    split: str | None
    source_id: str
    category: str | None
    subcategory: str | None
    text: str
    expected: str | None  # the benchmark's (or a published set's) own expected behaviour
    moderations: list[tuple[str, str, str | None]]  # (moderator, label, rationale)
    lineage: list[dict]  # store.promptsets.lineage: where a generated prompt came from
    history: list[PromptLabel] = field(default_factory=list)
    current: dict[str, PromptLabel] = field(default_factory=dict)


def fetch_prompt(db: sqlite_utils.Database, prompt_id: int) -> PromptItem | None:
    row = db.execute("SELECT id, dataset, split, source_id, category, subcategory, text, expected FROM prompts "
                     "WHERE id = ?", [prompt_id]).fetchone()
    if row is None:
        return None
    moderations = [tuple(r) for r in db.execute(
        """SELECT j.name, m.label, m.rationale FROM moderations m JOIN judges j ON j.id = m.judge_id
           WHERE m.prompt_id = ? ORDER BY j.name""", [prompt_id])]
    item = PromptItem(*row, moderations=moderations, lineage=promptsets.lineage(db, prompt_id)[1:])
    for values in db.execute("""SELECT id, annotator, label, category, note, undoes, created_at
                                FROM prompt_annotations WHERE prompt_id = ? ORDER BY id""", [prompt_id]):
        item.history.append(PromptLabel(*values))
    for values in db.execute("""SELECT id, annotator, label, category, note, undoes, created_at
                                FROM current_prompt_annotations WHERE prompt_id = ? ORDER BY id""", [prompt_id]):
        item.current[values[1]] = PromptLabel(*values)
    return item


def labels_frame(db: sqlite_utils.Database, history: bool = False) -> pd.DataFrame:
    """Human prompt labels: id, prompt_id, annotator, label, category, note, undoes, created_at; each
    annotator's current label, or every row ever written with ``history``."""
    source = "prompt_annotations" if history else "current_prompt_annotations"
    return pd.read_sql_query(f"SELECT id, prompt_id, annotator, label, category, note, undoes, created_at "
                             f"FROM {source} ORDER BY id", db.conn)


# -- the selection's prompts, ordered -----------------------------------------------------------------

def _status_condition(status: str) -> str:
    if status not in STATUSES:
        raise PromptStatusError(f"unknown prompt status {status!r}; expected one of {', '.join(s for s in STATUSES if s)}")
    human = "EXISTS (SELECT 1 FROM current_prompt_annotations a WHERE a.prompt_id = p.id)"
    if status == "unlabelled":
        return "NOT " + human
    if status == "labelled":
        return human
    if status == "moderators_disagree":
        return f"""EXISTS (SELECT 1 FROM moderations m JOIN moderations w ON w.prompt_id = m.prompt_id
                   WHERE m.prompt_id = p.id AND m.label != '{UNPARSED}' AND w.label != '{UNPARSED}'
                     AND {_TOXIC_SQL} != (w.label NOT IN ('none', 'unparsed')))"""
    if status == "human_vs_moderator":
        return f"""EXISTS (SELECT 1 FROM current_prompt_annotations a JOIN moderations m ON m.prompt_id = a.prompt_id
                   WHERE a.prompt_id = p.id AND m.label != '{UNPARSED}' AND a.label != 'unclear'
                     AND (a.label = '{SHOULD_REFUSE}') != {_TOXIC_SQL})"""
    if status == "contradicts_expected":
        return f"""EXISTS (SELECT 1 FROM current_prompt_annotations a WHERE a.prompt_id = p.id
                   AND p.expected IN ('{SHOULD_REFUSE}', '{SHOULD_COMPLY}') AND a.label != 'unclear'
                   AND a.label != p.expected)"""
    return "1"


def _items_sql(s: Selection, status: str) -> tuple[str, list]:
    """(prompt id, order key) of every prompt in the selection with the status: stored order, or the
    seeded random order of the review queue (the Review page's ``order``; ``disputed`` is stored)."""
    cond, params = prompt_where(s)
    random = s.order == "random"
    key = "review_rank(?, p.id)" if random else "p.id"
    return (f"SELECT p.id AS id, {key} AS k FROM prompts p WHERE {cond} AND {_status_condition(status)}",
            ([s.seed] if random else []) + params)


def count_prompts(db: sqlite_utils.Database, s: Selection, status: str = "") -> int:
    sql, params = _items_sql(s, status)
    return _read(db, f"SELECT count(*) FROM ({sql})", params)[0][0]


def prompt_ids(db: sqlite_utils.Database, s: Selection, status: str = "", offset: int = 0, limit: int = 1) -> list[int]:
    sql, params = _items_sql(s, status)
    return [r[0] for r in _read(db, f"SELECT id FROM ({sql}) ORDER BY k, id LIMIT ? OFFSET ?",
                                params + [limit, offset])]


def _key_of(s: Selection, prompt_id: int):
    return _rank(s.seed, prompt_id) if s.order == "random" else prompt_id


def neighbour(db: sqlite_utils.Database, s: Selection, status: str, prompt_id: int, step: int) -> int | None:
    """The prompt after (``step=1``) or before (``step=-1``) ``prompt_id`` (keyset paging: it works
    when labelling has just moved the open prompt out of the selection)."""
    sql, params = _items_sql(s, status)
    key = _key_of(s, prompt_id)
    cond, order = (("(k > ? OR (k = ? AND id > ?))", "k, id") if step > 0
                   else ("(k < ? OR (k = ? AND id < ?))", "k DESC, id DESC"))
    rows = _read(db, f"SELECT id FROM ({sql}) WHERE {cond} ORDER BY {order} LIMIT 1", params + [key, key, prompt_id])
    return rows[0][0] if rows else None


def position(db: sqlite_utils.Database, s: Selection, status: str, prompt_id: int) -> int:
    sql, params = _items_sql(s, status)
    key = _key_of(s, prompt_id)
    return _read(db, f"SELECT count(*) FROM ({sql}) WHERE k < ? OR (k = ? AND id < ?)",
                 params + [key, key, prompt_id])[0][0]


def contains(db: sqlite_utils.Database, s: Selection, status: str, prompt_id: int) -> bool:
    sql, params = _items_sql(s, status)
    return bool(_read(db, f"SELECT EXISTS (SELECT 1 FROM ({sql}) WHERE id = ?)", params + [prompt_id])[0][0])


# -- the queue -----------------------------------------------------------------------------------------

def _queue_sql(s: Selection, status: str, reviewer: str, overlap: int, skip: tuple[int, ...]) -> tuple[str, list]:
    """Prompts in the selection ``reviewer`` has not labelled and fewer than ``overlap`` people have."""
    sql, params = _items_sql(s, status)
    skipped = f" AND items.id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
    return (f"""FROM ({sql}) items WHERE NOT EXISTS (SELECT 1 FROM current_prompt_annotations a
                                                WHERE a.prompt_id = items.id AND a.annotator = ?)
               AND (SELECT count(*) FROM current_prompt_annotations a WHERE a.prompt_id = items.id) < ?{skipped}""",
            params + [reviewer, overlap, *skip])


def queue_next(db: sqlite_utils.Database, s: Selection, status: str, reviewer: str, overlap: int = 1,
               skip: tuple[int, ...] = ()) -> int | None:
    """The next prompt for ``reviewer`` in the selection's order (seeded random with ``order=random``,
    so what a reviewer labels is a simple random sample of the selection)."""
    sql, params = _queue_sql(s, status, reviewer, overlap, skip)
    rows = _read(db, f"SELECT items.id {sql} ORDER BY items.k, items.id LIMIT 1", params)
    return rows[0][0] if rows else None


def queue_left(db: sqlite_utils.Database, s: Selection, status: str, reviewer: str, overlap: int = 1) -> int:
    sql, params = _queue_sql(s, status, reviewer, overlap, ())
    return _read(db, f"SELECT count(*) {sql}", params)[0][0]


def progress(db: sqlite_utils.Database, s: Selection, status: str, reviewer: str | None) -> tuple[int, int, int]:
    """(prompts in the selection, prompts with a human label, prompts the reviewer labelled)."""
    sql, params = _items_sql(s, status)
    return tuple(_read(db, f"""SELECT count(*),
            coalesce(sum(EXISTS (SELECT 1 FROM current_prompt_annotations a WHERE a.prompt_id = items.id)), 0),
            coalesce(sum(EXISTS (SELECT 1 FROM current_prompt_annotations a WHERE a.prompt_id = items.id
                                 AND a.annotator = ?)), 0) FROM ({sql}) items""", [reviewer or ""] + params)[0])

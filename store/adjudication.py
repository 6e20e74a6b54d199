"""The adjudicator's final label: how a team settles a response whose human labels tie.

A tie has no defensible majority, so ``analysis.humans.reference`` leaves it out of every figure
until an admin (the adjudicator) gives the final label; from then on that label is the response's
reference, shown as such. Final labels are append-only like annotations (migration 005): a change
or a withdrawal (label None) is a new row and the newest row decides.
"""

from dataclasses import dataclass

import pandas as pd
import sqlite_utils

from labels import LABELS
from store import users
from store.selection import Selection, in_selection
from store.writes import LabelError


@dataclass
class Final:
    label: str
    adjudicator: str
    note: str | None
    created_at: str


def adjudicate(db: sqlite_utils.Database, response_id: int, label: str | None, adjudicator: str,
               note: str | None = None) -> int:
    """Record the final label of a response (``label=None`` withdraws it). Admins only."""
    if label is not None and label not in LABELS:
        raise LabelError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    with users.writing_as(db, adjudicator, "admin"):
        return db.conn.execute("INSERT INTO adjudications (response_id, label, adjudicator, note) VALUES (?, ?, ?, ?)",
                               (response_id, label, adjudicator.strip(), (note or "").strip() or None)).lastrowid


def finals_of(db: sqlite_utils.Database, response_ids: list[int]) -> dict[int, Final]:
    found = {}
    for start in range(0, len(response_ids), 500):
        chunk = list(response_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for rid, label, who, note, created in db.execute(
                f"SELECT response_id, label, adjudicator, note, created_at FROM current_adjudications "
                f"WHERE response_id IN ({marks})", chunk):
            found[rid] = Final(label, who, note, created)
    return found


def finals_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """The standing final labels of the selected responses: response_id, label, adjudicator, note, created_at."""
    cond, params = in_selection("response_id", selection)
    return pd.read_sql_query(f"""SELECT response_id, label, adjudicator, note, created_at FROM current_adjudications
                                 WHERE {cond} ORDER BY response_id""", db.conn, params=params)


def import_finals(db: sqlite_utils.Database, rows: list[dict]) -> int:
    """Imported final labels (response_id, label, adjudicator, note), inside the caller's
    transaction, unless the response's standing final label is already the same."""
    cursor = db.conn.executemany(
        """INSERT INTO adjudications (response_id, label, adjudicator, note) SELECT ?1, ?2, ?3, ?4
           WHERE NOT EXISTS (SELECT 1 FROM current_adjudications WHERE response_id = ?1 AND label = ?2)""",
        [(r["response_id"], r["label"], r["adjudicator"], r.get("note")) for r in rows])
    return max(cursor.rowcount, 0)

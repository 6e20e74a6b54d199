"""SQL for the "most informative first" review queue: what a batch is drawn from, the batches with
each response's inclusion probability, and the next suggested response to label.

A batch is drawn by analysis/active.py (pure); the store only reads its pool and keeps what was
drawn. Which suggestions are labelled is read from current_annotations each time, never stored.
"""

import json

import pandas as pd
import sqlite_utils

from store import users
from store.connection import write_transaction
from store.selection import Selection, where


def latest_learned_judge(db: sqlite_utils.Database) -> str | None:
    """The newest learned judge's name (the one trained on the most recent labels), if any."""
    row = db.execute("SELECT name FROM judges WHERE kind = 'learned' ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def pool(db: sqlite_utils.Database, selection: Selection, judge: str | None) -> pd.DataFrame:
    """Every response in the selection: response_id, dataset, source_id, model, category, labelled
    (has a current human label), and ``judge``'s probability and raw output (its class
    probabilities, JSON) where it judged the response (NULL elsewhere, or without a judge)."""
    cond, params = where(selection)
    return pd.read_sql_query(
        f"""SELECT r.id AS response_id, p.dataset, p.source_id, r.model, p.category,
                   EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id) AS labelled,
                   v.probability, v.raw_output
            FROM responses r JOIN prompts p ON p.id = r.prompt_id
            LEFT JOIN verdicts v ON v.response_id = r.id
                 AND v.judge_id = (SELECT id FROM judges WHERE name = ?)
            WHERE {cond} ORDER BY r.id""", db.conn, params=[judge or ""] + params)


def record_batch(db: sqlite_utils.Database, batch: pd.DataFrame, judge: str | None, pool_size: int, seed: int,
                 selection: Selection, actor: str | None = None) -> int:
    """Keep a drawn batch (response_id, pi, in review order) in one transaction; returns its id.
    ``actor``: the app's user (needs the reviewer role); None is the command line."""
    with users.writing_as(db, actor, "reviewer") if actor is not None else write_transaction(db):
        batch_id = db.execute(
            "INSERT INTO suggestion_batches (judge, n, pool, seed, selection, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            [judge, len(batch), pool_size, seed, json.dumps(selection.changed(), sort_keys=True), actor]).lastrowid
        db.conn.executemany("INSERT INTO suggestions (batch_id, position, response_id, pi) VALUES (?, ?, ?, ?)",
                            [(batch_id, position, int(rid), float(pi)) for position, (rid, pi)
                             in enumerate(zip(batch["response_id"], batch["pi"]))])
    return batch_id


def batches_frame(db: sqlite_utils.Database) -> pd.DataFrame:
    """One row per suggested response of every batch: batch, position, response_id, pi, labelled,
    judge (what analysis.active.label_weights reads)."""
    return pd.read_sql_query(
        """SELECT s.batch_id AS batch, s.position, s.response_id, s.pi, b.judge,
                  EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = s.response_id) AS labelled
           FROM suggestions s JOIN suggestion_batches b ON b.id = s.batch_id ORDER BY s.batch_id, s.position""",
        db.conn).astype({"labelled": bool})


def next_suggested(db: sqlite_utils.Database, selection: Selection, reviewer: str,
                   skip: tuple[int, ...] = ()) -> tuple[int, int] | None:
    """The next (prompt id, response id) to label in suggested order: the oldest batch that still
    has an unlabelled response in the selection, then its review order. A response someone has
    labelled counts as done (a second label would not change the sample). ``skip``: responses the
    reviewer passed over in this session."""
    cond, params = where(selection)
    if skip:
        cond += f" AND r.id NOT IN ({', '.join('?' * len(skip))})"
        params = params + list(skip)
    row = db.execute(
        f"""SELECT r.prompt_id, r.id FROM suggestions s JOIN responses r ON r.id = s.response_id
            JOIN prompts p ON p.id = r.prompt_id
            WHERE {cond} AND NOT EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id)
            ORDER BY s.batch_id, s.position LIMIT 1""", params).fetchone()
    return tuple(row) if row else None


def suggested_left(db: sqlite_utils.Database, selection: Selection) -> int:
    """Suggested responses in the selection nobody has labelled yet."""
    cond, params = where(selection)
    return db.execute(
        f"""SELECT count(DISTINCT r.id) FROM suggestions s JOIN responses r ON r.id = s.response_id
            JOIN prompts p ON p.id = r.prompt_id
            WHERE {cond} AND NOT EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id)""",
        params).fetchone()[0]

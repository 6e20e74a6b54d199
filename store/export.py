"""The tables an export is made of, straight from SQL; ``exports/files.py`` turns them into files.

Tidy frames, joined on ``response_id``: rows (one per response, plus one per prompt that has no
response yet, so an export never loses a prompt), verdicts, and human labels (each annotator's
current label, or with ``history=True`` every row ever written, withdrawals and undos included);
tags, comments and final labels come from store.discussion and store.adjudication. Every frame
covers a ``Selection`` (the Review filter; the default is everything): the responses it selects,
and, when it sets no condition on responses, the prompts it selects that have none yet.
"""

import pandas as pd
import sqlite_utils

from store import reads, writes
from store.selection import Selection, in_selection, prompt_where, response_ids, where


def rows_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """prompt_id, dataset, split, source_id, category, subcategory, expected, categories (the team's
    own, comma-joined), prompt, metadata (JSON), response_id, model, response, origin, settings (JSON)."""
    cond, params = where(selection)
    if selection.on_responses:
        bare, bare_params = "0", []
    else:
        bare, bare_params = prompt_where(selection)
    return pd.read_sql_query(
        """SELECT p.id AS prompt_id, p.dataset, p.split, p.source_id, p.category, p.subcategory, p.expected,
                  (SELECT group_concat(name, ',') FROM (
                      SELECT c.name FROM prompt_categories pc JOIN categories c ON c.id = pc.category_id
                      WHERE pc.prompt_id = p.id ORDER BY c.name)) AS categories,
                  p.text AS prompt, p.metadata, r.id AS response_id, r.model, r.text AS response, r.origin,
                  r.settings
           FROM prompts p LEFT JOIN responses r ON r.prompt_id = p.id
           WHERE (r.id IS NOT NULL AND {cond}) OR (r.id IS NULL AND {bare})
           ORDER BY p.id, r.id""".format(cond=cond, bare=bare), db.conn, params=params + bare_params)


def verdicts_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """response_id, judge, judge_kind, label, rationale, raw_output: every verdict on the selection."""
    cond, params = in_selection("v.response_id", selection)
    return pd.read_sql_query(
        f"""SELECT v.response_id, j.name AS judge, j.kind AS judge_kind, v.label, v.rationale, v.raw_output
            FROM verdicts v JOIN judges j ON j.id = v.judge_id WHERE {cond}
            ORDER BY v.response_id, j.name""", db.conn, params=params)


def labels_frame(db: sqlite_utils.Database, history: bool = False, selection: Selection = Selection()) -> pd.DataFrame:
    """Human labels (id, response_id, annotator, label, note, undoes, created_at) on the selection;
    see reads.annotations_frame."""
    frame = reads.annotations_frame(db, history=history)
    if selection == Selection():
        return frame
    ids, params = response_ids(selection)
    keep = {r[0] for r in db.execute(ids, params)}
    return frame[frame["response_id"].isin(keep)].reset_index(drop=True)


def category_paths(db: sqlite_utils.Database) -> dict[str, tuple[str, str | None]]:
    """name -> (top-level category, the category itself when it is below the top, else None): how a
    team's own category becomes CoCoNot's category/subcategory pair."""
    return {name: (root, None if name == root else name) for name, root in db.execute(
        """WITH RECURSIVE up(name, id, parent_id, depth) AS (
               SELECT name, id, parent_id, 0 FROM categories
               UNION ALL SELECT up.name, c.id, c.parent_id, up.depth + 1
               FROM categories c JOIN up ON c.id = up.parent_id WHERE up.depth < 100)
           SELECT up.name, c.name FROM up JOIN categories c ON c.id = up.id WHERE up.parent_id IS NULL""")}


def find_responses(db: sqlite_utils.Database, keys) -> dict[tuple[str, str, str, str], int]:
    """(dataset, source_id, model, text) -> response id, for the keys the store holds: how a file
    that left the app (an eval log) finds its rows again. One indexed lookup per key."""
    found = {}
    for key in set(keys):
        dataset, source_id, model, text = key
        row = db.execute(
            """SELECT r.id FROM responses r JOIN prompts p ON p.id = r.prompt_id
               WHERE p.dataset = ? AND p.source_id = ? AND r.model = ? AND r.text_hash = ?""",
            [dataset, source_id, model, writes.text_hash(text)]).fetchone()
        if row:
            found[key] = row[0]
    return found

"""Reads shared by the pages, the CLI and the analysis: totals and tidy DataFrames.

The frames are the hand-off to ``analysis/``, which never sees SQL: one row per response with its
prompt's attributes, one row per verdict, one row per (current or historical) annotation.
"""

import sqlite3

import pandas as pd
import sqlite_utils

from store import promptsets
from store.connection import StoreError, schema_version, write_transaction
from store.schema import SIDE_OF, fill_slice_counts
from store.selection import EVERYTHING, Selection, where


def stats(db: sqlite_utils.Database) -> dict:
    """Totals and per-dataset counts, as ``cli.py stats --json`` prints them; ``built`` lists the
    datasets made by prompt-building steps with their counts per step."""
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    datasets = {
        name: {"prompts": prompts, "responses": responses}
        for name, prompts, responses in db.execute(
            """SELECT p.dataset, count(DISTINCT p.id), count(r.id)
               FROM prompts p LEFT JOIN responses r ON r.prompt_id = p.id
               GROUP BY p.dataset ORDER BY p.dataset"""
        )
    }
    return {
        "schema_version": schema_version(db),
        "prompts": one("SELECT count(*) FROM prompts"),
        "responses": one("SELECT count(*) FROM responses"),
        "verdicts": one("SELECT count(*) FROM verdicts"),
        "annotations": one("SELECT count(*) FROM annotations"),
        "judges": [r[0] for r in db.execute("SELECT name FROM judges ORDER BY name")],
        "models": [r[0] for r in db.execute("SELECT DISTINCT model FROM responses ORDER BY model")],
        "datasets": datasets,
        "built": promptsets.built_datasets(db),
    }


def is_demo(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM responses WHERE origin = 'demo')").fetchone()[0] == 1


def first_source_id(db: sqlite_utils.Database, dataset: str) -> str | None:
    """The id of a dataset's first stored prompt: where a link to review a fresh import opens."""
    row = db.execute("SELECT source_id FROM prompts WHERE dataset = ? ORDER BY id LIMIT 1", [dataset]).fetchone()
    return row[0] if row else None


_SIDE = SIDE_OF.format(r="r")

#: Every response a human reference can exist for: a current label, or an adjudicator's final
#: label (analysis.humans.reference counts a final label even where no label stands).
LABELLED_IDS = "SELECT response_id FROM current_annotations UNION SELECT response_id FROM adjudications"

#: The attributes benchmark figures are sliced by (analysis.benchmarks groups by subsets of them).
SLICE = ("dataset", "category", "subcategory", "expected", "model", "side")


def responses_frame(db: sqlite_utils.Database, selection: Selection = Selection(),
                    labelled_only: bool = False) -> pd.DataFrame:
    """One row per selected response: response_id, prompt_id, source_id, dataset, split, category,
    subcategory, expected, model, side, categories. ``side`` is "chosen" or "rejected" for the
    responses of a preference pair (CoCoNot's preference data), else missing. ``categories`` is the team's own categories of the
    prompt, comma-joined in name order (missing when it has none); group by them with
    ``frame.assign(categories=frame.categories.str.split(",")).explode("categories")``."""
    sql = f"""SELECT r.id AS response_id, p.id AS prompt_id, p.source_id, p.dataset, p.split,
                    p.category, p.subcategory, p.expected, r.model, {_SIDE} AS side,
                    (SELECT group_concat(name, ',') FROM (
                        SELECT c.name FROM prompt_categories pc JOIN categories c ON c.id = pc.category_id
                        WHERE pc.prompt_id = p.id ORDER BY c.name)) AS categories
             FROM responses r JOIN prompts p ON p.id = r.prompt_id"""
    cond, params = where(selection)
    if labelled_only:  # driven from the labels' side: an index probe per labelled response
        sql += f" JOIN ({LABELLED_IDS}) labelled ON labelled.response_id = r.id"
    return pd.read_sql_query(f"{sql} WHERE {cond} ORDER BY r.id", db.conn, params=params)


def judge_label_counts(db: sqlite_utils.Database, selection: Selection = Selection(),
                       judge: str | None = None) -> pd.DataFrame:
    """Selected responses per slice (``SLICE``) and ``judge``'s label: SLICE..., judge_label (missing
    where the judge has no verdict, and everywhere without a judge), responses. The labelled
    responses come apart (``analysis_frames(labelled_only=True)``) and ``analysis.benchmarks``
    puts the two together, so judge-only benchmark rates never load a row per response. The whole
    database is read from the running counts (``slice_counts``, migration 010: a few hundred rows);
    a narrower selection is counted by SQLite in one pass."""
    cond, params = where(selection)
    if cond == EVERYTHING:
        kept = _kept_counts(db, judge)
        if kept is not None:
            return kept
    label, join = "NULL", ""
    if judge is not None:
        label = "v.label"
        join = "LEFT JOIN verdicts v ON v.response_id = r.id AND v.judge_id = (SELECT id FROM judges WHERE name = ?)"
        params = [judge] + params
    # NOT INDEXED: the side needs the whole row, which a scan of responses_model would fetch out of
    # storage order, at twice the cost.
    return pd.read_sql_query(
        f"""SELECT p.dataset, p.category, p.subcategory, p.expected, r.model, {_SIDE} AS side,
                   {label} AS judge_label, count(*) AS responses
            FROM responses r NOT INDEXED JOIN prompts p ON p.id = r.prompt_id {join}
            WHERE {cond} GROUP BY 1, 2, 3, 4, 5, 6, 7""", db.conn, params=params)


def _kept_counts(db: sqlite_utils.Database, judge: str | None) -> pd.DataFrame | None:
    """``judge_label_counts`` of the whole database from ``slice_counts``: the judge's counts per
    slice and label, and per slice the responses it has not judged (all of them, without a judge).
    Stale counts are rebuilt first; None when they are stale and this connection cannot write."""
    if db.execute("SELECT stale FROM slice_counts_state").fetchone()[0]:
        try:
            rebuild_slice_counts(db)
        except (sqlite3.OperationalError, StoreError):  # read-only (or busy): the caller counts from the rows
            return None
    columns = ", ".join(f"json_extract(slice, '$[{i}]') AS {name}" for i, name in enumerate(SLICE))
    return pd.read_sql_query(
        f"""WITH j AS (SELECT coalesce((SELECT id FROM judges WHERE name = ?), -1) AS id),
                 kept AS (SELECT slice, label AS judge_label, n FROM slice_counts WHERE judge_id = (SELECT id FROM j)
                          UNION ALL
                          SELECT t.slice, NULL, t.n - coalesce((SELECT sum(k.n) FROM slice_counts k
                                                                WHERE k.judge_id = (SELECT id FROM j)
                                                                  AND k.slice = t.slice), 0)
                          FROM slice_counts t WHERE t.judge_id = 0 AND t.label = '')
            SELECT {columns}, judge_label, n AS responses FROM kept WHERE n > 0""",
        db.conn, params=[judge])


def rebuild_slice_counts(db: sqlite_utils.Database) -> None:
    """Count ``slice_counts`` again from the rows, after an edit moved rows between slices (a pass
    over every response and verdict)."""
    with write_transaction(db):
        fill_slice_counts(db)


def judges_with_verdicts(db: sqlite_utils.Database) -> list[str]:
    """The judges that have at least one verdict (an index probe per judge)."""
    return [r[0] for r in db.execute("""SELECT name FROM judges j
                                        WHERE EXISTS (SELECT 1 FROM verdicts v WHERE v.judge_id = j.id) ORDER BY name""")]


def verdicts_frame(db: sqlite_utils.Database, judge: str | None = None,
                   response_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per verdict: response_id, judge, label (of one judge, of some responses when given)."""
    sql = "SELECT v.response_id, j.name AS judge, v.label FROM verdicts v JOIN judges j ON j.id = v.judge_id WHERE 1"
    params: list = []
    if judge:
        sql += " AND j.name = ?"
        params.append(judge)
    if response_ids is None:
        return pd.read_sql_query(sql + " ORDER BY v.response_id", db.conn, params=params)
    chunks = [pd.read_sql_query(f"{sql} AND v.response_id IN ({', '.join('?' * len(part))})", db.conn,
                                params=params + part)
              for part in (response_ids[i:i + 500] for i in range(0, len(response_ids), 500))]
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=["response_id", "judge", "label"])
    return frame.sort_values("response_id", kind="stable").reset_index(drop=True)


def texts(db: sqlite_utils.Database, response_ids: list[int]) -> pd.DataFrame:
    """response_id, prompt, response (the texts) of the given responses, in id order."""
    chunks = [pd.read_sql_query(f"""SELECT r.id AS response_id, p.text AS prompt, r.text AS response
                                    FROM responses r JOIN prompts p ON p.id = r.prompt_id
                                    WHERE r.id IN ({', '.join('?' * len(part))})""", db.conn, params=part)
              for part in (response_ids[i:i + 500] for i in range(0, len(response_ids), 500))]
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=["response_id", "prompt",
                                                                                        "response"])
    return frame.sort_values("response_id", kind="stable").reset_index(drop=True)


def verdict_rationales(db: sqlite_utils.Database, judge: str) -> pd.DataFrame:
    """One judge's label and rationale per response, indexed by response_id."""
    return pd.read_sql_query("""SELECT v.response_id, v.label, v.rationale FROM verdicts v
                                WHERE v.judge_id = (SELECT id FROM judges WHERE name = ?)""",
                             db.conn, params=[judge], index_col="response_id")


def annotations_frame(db: sqlite_utils.Database, history: bool = False) -> pd.DataFrame:
    """Human labels: id, response_id, annotator, label, note, undoes, created_at. By default only each
    annotator's current label; ``history=True`` gives every row ever written (withdrawals included)."""
    source = "annotations" if history else "current_annotations"
    return pd.read_sql_query(
        f"SELECT id, response_id, annotator, label, note, undoes, created_at FROM {source} ORDER BY id", db.conn
    )


def annotators(db: sqlite_utils.Database) -> list[str]:
    """Everyone with a current human label, by name (what the analysis pages offer as a reference)."""
    return [row[0] for row in db.execute("SELECT DISTINCT annotator FROM current_annotations ORDER BY annotator")]


def analysis_frames(db: sqlite_utils.Database, selection: Selection = Selection(),
                    labelled_only: bool = False) -> tuple:
    """(responses, verdicts, annotations): the three frames every analysis reads, so the CLI and the
    Agreement and Results pages measure exactly the same input; ``selection`` picks the responses.
    ``labelled_only``: only responses with a current human label, and only their verdicts: judge-human
    agreement needs nothing else, so it costs what is labelled, not the size of the database."""
    responses = responses_frame(db, selection, labelled_only)
    verdicts = verdicts_frame(db, response_ids=responses["response_id"].tolist() if labelled_only else None)
    return responses, verdicts, annotations_frame(db)


def change_token(db: sqlite_utils.Database) -> tuple:
    """A cheap fingerprint of the data the analyses read, for cache keys: the newest id of each
    growing table (nothing deletes from them; annotations are append-only) plus the edit counter
    that the few in-place edits bump (store/schema.py m003). Index lookups only: constant time.
    Order: prompts, responses, verdicts, annotations, judges, edits, moderations, prompt labels,
    generation calls, tags, comments, final labels. The human labels and what a team writes beside
    them (tags, comments, final labels: ``LABEL_PARTS``) are left out by ``without_labels`` for
    reads that do not depend on them."""
    return tuple(db.execute(
        """SELECT (SELECT max(id) FROM prompts), (SELECT max(id) FROM responses),
                  (SELECT max(id) FROM verdicts), (SELECT max(id) FROM annotations),
                  (SELECT max(id) FROM judges), (SELECT n FROM edit_counter),
                  (SELECT max(id) FROM moderations), (SELECT max(id) FROM prompt_annotations),
                  (SELECT max(id) FROM generation_calls), (SELECT max(id) FROM tag_events),
                  (SELECT max(id) FROM comments), (SELECT max(id) FROM adjudications)"""
    ).fetchone())


#: Positions in ``change_token`` of the human labels and of the team's tags, comments and final labels.
LABEL_PARTS = frozenset({3, 9, 10, 11})


def without_labels(token: tuple) -> tuple:
    """``change_token`` without ``LABEL_PARTS``: the key of reads a label press cannot change."""
    return tuple(part for i, part in enumerate(token) if i not in LABEL_PARTS)

"""SQL for judging and generation runs: what still needs doing, the result cache, run bookkeeping,
and where two judges disagree.

A result is written in ONE small transaction together with its cache entry and the run's counters,
the moment it arrives, so a run killed at any instant leaves the store consistent and a re-run
picks up exactly the items that have no result yet.
"""

import json

import pandas as pd
import sqlite_utils

from errors import UserError
from store import users
from store.connection import NOW, write_transaction
from store.selection import Selection, prompt_where, where
from store.writes import add_responses, add_verdicts, ensure_judge

_ITEM_COLUMNS = """p.id AS prompt_id, p.dataset, p.split, p.source_id, p.category, p.subcategory,
                   p.text AS prompt"""


def _lacking_verdict_sql(judge_id: int | None, s: Selection) -> tuple[str, list]:
    cond, params = where(s)
    sql = f"""FROM responses r JOIN prompts p ON p.id = r.prompt_id
              WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.response_id = r.id AND v.judge_id = ?) AND {cond}"""
    return sql, [judge_id if judge_id is not None else -1] + params


def count_lacking_verdict(db: sqlite_utils.Database, judge_id: int | None, s: Selection) -> int:
    sql, params = _lacking_verdict_sql(judge_id, s)
    return db.execute(f"SELECT count(*) {sql}", params).fetchone()[0]


def responses_lacking_verdict(db: sqlite_utils.Database, judge_id: int | None, s: Selection,
                              limit: int | None = None) -> list[dict]:
    """Responses in the selection (with their prompt) that judge ``judge_id`` has not judged yet,
    oldest first. ``judge_id=None`` (a judge not registered yet) means all of them."""
    sql, params = _lacking_verdict_sql(judge_id, s)
    sql = f"SELECT r.id AS response_id, r.text AS response, r.model, {_ITEM_COLUMNS} {sql} ORDER BY r.id"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return list(db.query(sql, params))


def ids_lacking_verdict(db: sqlite_utils.Database, judge_id: int | None, s: Selection, limit: int,
                        after: int = 0) -> list[int]:
    """The ids of the next ``limit`` responses_lacking_verdict after response id ``after``: a batch
    judge walks a large selection in chunks of ids, and whoever labels a chunk reads its texts
    (batch_items), so the texts never pass through the process that walks."""
    sql, params = _lacking_verdict_sql(judge_id, s)
    return [row[0] for row in db.execute(f"SELECT r.id {sql} AND r.id > ? ORDER BY r.id LIMIT ?",
                                         params + [after, limit])]


def batch_items(db: sqlite_utils.Database, ids: list[int]) -> list[dict]:
    """What a batch judge reads of each response in ``ids``: response_id, response and prompt, in id
    order. An id no longer in the store (its import undone since) is left out."""
    return list(db.query("""SELECT r.id AS response_id, r.text AS response, p.text AS prompt
                            FROM responses r JOIN prompts p ON p.id = r.prompt_id
                            WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY r.id""", [json.dumps(ids)]))


def _lacking_response_sql(model: str, s: Selection) -> tuple[str, list]:
    cond, params = prompt_where(s)
    return (f"""FROM prompts p WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.prompt_id = p.id AND r.model = ?)
                AND {cond}""", [model] + params)


def count_prompts_lacking_response(db: sqlite_utils.Database, model: str, s: Selection) -> int:
    sql, params = _lacking_response_sql(model, s)
    return db.execute(f"SELECT count(*) {sql}", params).fetchone()[0]


def prompts_lacking_response(db: sqlite_utils.Database, model: str, s: Selection,
                             limit: int | None = None) -> list[dict]:
    """Prompts in the selection that have no response from ``model`` yet, oldest first."""
    sql, params = _lacking_response_sql(model, s)
    sql = f"SELECT {_ITEM_COLUMNS} {sql} ORDER BY p.id"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return list(db.query(sql, params))


# -- the result cache -------------------------------------------------------------------------------

def cached(db: sqlite_utils.Database, keys) -> dict[str, dict]:
    """Cached results for the given keys (missing keys are absent)."""
    keys, found = list(keys), {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for key, value in db.conn.execute(f"SELECT key, value FROM llm_cache WHERE key IN ({marks})", chunk):
            found[key] = json.loads(value)
    return found


def _cache_put(db, key: str, value: dict) -> None:
    db.conn.execute("INSERT INTO llm_cache (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (key, json.dumps(value, ensure_ascii=False)))


# -- runs -------------------------------------------------------------------------------------------

def start_run(db: sqlite_utils.Database, kind: str, target: str, config: dict, n_items: int,
              actor: str | None = None, pid: int | None = None, owner: str | None = None) -> int:
    """A new run. ``actor``: the app's user, who needs the reviewer role like any other writer
    (None: the command line, acting as the database's owner). ``pid``/``owner``: the process
    running it (runs.liveness), to tell a killed run from a live one. The run's id is what the
    later writes of the run carry."""
    with users.writing_as(db, actor, "reviewer") if actor is not None else write_transaction(db):
        return db.conn.execute("INSERT INTO runs (kind, target, config, n_items, pid, owner) VALUES (?, ?, ?, ?, ?, ?)",
                               (kind, target, json.dumps(config, sort_keys=True), n_items, pid, owner)).lastrowid


def take_over(db: sqlite_utils.Database, run_id: int, pid: int, owner: str) -> None:
    """A run continued by another process (a batch run resumed after a restart): running again, owned
    by that process."""
    with write_transaction(db):
        db.conn.execute("UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, owner = ? WHERE id = ?",
                        (pid, owner, run_id))


def running_runs(db: sqlite_utils.Database) -> list[dict]:
    """Runs marked running: id, pid and owner (whose process may be gone)."""
    return list(db.query("SELECT id, pid, owner FROM runs WHERE status = 'running' ORDER BY id"))


def mark_interrupted(db: sqlite_utils.Database, run_ids: list[int]) -> None:
    """Runs whose process is gone: 'interrupted', unless they finished meanwhile."""
    if not run_ids:
        return
    with write_transaction(db):
        db.conn.executemany("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                            [(run_id,) for run_id in run_ids])


def interrupted_runs(db: sqlite_utils.Database, limit: int = 5) -> list[dict]:
    """Interrupted runs not resumed yet: no later run of the same kind, target and selection (a
    re-run of the same judge or model on it picks up exactly what the interrupted one left), newest
    first."""
    return [dict(row, config=json.loads(row["config"])) for row in db.query(
        """SELECT id, kind, target, config, n_items, n_done, n_errors, started_at FROM runs r
           WHERE status = 'interrupted' AND NOT EXISTS (
               SELECT 1 FROM runs later WHERE later.kind = r.kind AND later.target = r.target AND later.id > r.id
               AND json_extract(later.config, '$.selection') IS json_extract(r.config, '$.selection'))
           ORDER BY id DESC LIMIT ?""", [limit])]


def _count(db, run_id: int, done: int = 0, errors: int = 0, prompt_tokens: int = 0,
           completion_tokens: int = 0) -> None:
    db.conn.execute(
        """UPDATE runs SET n_done = n_done + ?, n_errors = n_errors + ?, prompt_tokens = prompt_tokens + ?,
           completion_tokens = completion_tokens + ? WHERE id = ?""",
        (done, errors, prompt_tokens or 0, completion_tokens or 0, run_id))


def finish_run(db: sqlite_utils.Database, run_id: int, status: str) -> None:
    with write_transaction(db):
        db.conn.execute(f"UPDATE runs SET status = ?, finished_at = {NOW} "
                        "WHERE id = ?", (status, run_id))


def record_verdict(db: sqlite_utils.Database, run_id: int, verdict: dict, cache_key: str | None = None,
                   cache_value: dict | None = None) -> None:
    """One verdict, its cache entry and the run's counters, in one transaction."""
    with write_transaction(db):
        if cache_key:
            _cache_put(db, cache_key, cache_value)
        add_verdicts(db, [verdict])
        _count(db, run_id, done=1, prompt_tokens=verdict.get("prompt_tokens"),
               completion_tokens=verdict.get("completion_tokens"))


def record_verdicts(db: sqlite_utils.Database, run_id: int, verdicts: list[dict]) -> None:
    """Many verdicts at once (the rule judge: no cache, no tokens)."""
    with write_transaction(db):
        add_verdicts(db, verdicts)
        _count(db, run_id, done=len(verdicts))


def record_response(db: sqlite_utils.Database, run_id: int, response: dict, tokens: tuple[int, int],
                    cache_key: str | None = None, cache_value: dict | None = None) -> int:
    """One generated response, its cache entry and the run's counters, in one transaction."""
    with write_transaction(db):
        if cache_key:
            _cache_put(db, cache_key, cache_value)
        (response_id,) = add_responses(db, [response])
        _count(db, run_id, done=1, prompt_tokens=tokens[0], completion_tokens=tokens[1])
        return response_id


def record_error(db: sqlite_utils.Database, run_id: int, item_id: int, error: str, attempts: int) -> None:
    with write_transaction(db):
        db.conn.execute("INSERT INTO run_errors (run_id, item_id, error, attempts) VALUES (?, ?, ?, ?)",
                        (run_id, item_id, error, attempts))
        _count(db, run_id, errors=1)


def get_run(db: sqlite_utils.Database, run_id: int) -> dict:
    found = next(db.query("SELECT * FROM runs WHERE id = ?", [run_id]), None)
    if found is None:
        raise UserError(f"no run {run_id}")
    return found


def judge_config(db: sqlite_utils.Database, name: str) -> dict | None:
    """The stored config of judge ``name`` (what rebuilds it), or None when unknown."""
    row = db.execute("SELECT config FROM judges WHERE name = ?", (name,)).fetchone()
    return json.loads(row[0]) if row else None


def mean_completion_tokens(db: sqlite_utils.Database, kind: str, target: str) -> float | None:
    """Completion tokens per answered item over earlier runs of this judge or model (None: no
    answered item yet): what a preview expects a new item to cost."""
    row = db.execute("SELECT sum(completion_tokens), sum(n_done) FROM runs WHERE kind = ? AND target = ? "
                     "AND completion_tokens > 0", (kind, target)).fetchone()
    return row[0] / row[1] if row[1] else None


def recent_runs(db: sqlite_utils.Database, limit: int = 20) -> pd.DataFrame:
    return pd.read_sql_query(
        """SELECT id, kind, target, status, n_items, n_done, n_errors, prompt_tokens, completion_tokens,
                  started_at, finished_at,
                  (SELECT group_concat(batch_id) FROM run_batches b WHERE b.run_id = runs.id) AS batch
           FROM runs ORDER BY id DESC LIMIT ?""", db.conn, params=[limit])


def run_errors(db: sqlite_utils.Database, run_id: int) -> pd.DataFrame:
    return pd.read_sql_query("SELECT item_id, error, attempts, created_at FROM run_errors WHERE run_id = ? "
                             "ORDER BY id", db.conn, params=[run_id])


# -- judges -----------------------------------------------------------------------------------------

def register_judge(db: sqlite_utils.Database, judge, actor: str | None = None) -> int:
    """The id of ``judge`` (anything with name, family and config), registering it on first use."""
    with users.writing_as(db, actor, "reviewer") if actor is not None else write_transaction(db):
        return ensure_judge(db, judge.name, judge.family, judge.config, getattr(judge, "digest", None)
                            or getattr(judge, "template_hash", None))


def judge_labels(db: sqlite_utils.Database, name: str) -> dict[str, int]:
    """How many verdicts judge ``name`` gave of each label (``unparsed`` included)."""
    return dict(db.execute("SELECT v.label, count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                           "WHERE j.name = ? GROUP BY v.label", (name,)).fetchall())


def judge_id(db: sqlite_utils.Database, name: str) -> int | None:
    row = db.conn.execute("SELECT id FROM judges WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def resolve_judge(db: sqlite_utils.Database, name: str) -> str:
    """A judge's full name from its name or an unambiguous prefix (``rules`` -> ``rules:ab12cd34``)."""
    if judge_id(db, name) is not None:
        return name
    matches = [r[0] for r in db.conn.execute("SELECT name FROM judges WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
                                             (name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                                              + "%",))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(r[0] for r in db.conn.execute("SELECT name FROM judges ORDER BY name")) or "none"
        raise UserError(f"no judge named {name!r} (judges: {known})")
    raise UserError(f"{name!r} matches several judges: {', '.join(matches)}; give the full name")


def disagreements(db: sqlite_utils.Database, judge_a: str, judge_b: str) -> pd.DataFrame:
    """Responses both judges labelled differently: response_id, dataset, source_id, model, prompt,
    label_a, label_b, rationale_a, rationale_b."""
    return pd.read_sql_query(
        """SELECT r.id AS response_id, p.dataset, p.source_id, r.model, p.text AS prompt,
                  va.label AS label_a, vb.label AS label_b, va.rationale AS rationale_a, vb.rationale AS rationale_b
           FROM verdicts va JOIN judges ja ON ja.id = va.judge_id AND ja.name = ?
           JOIN verdicts vb ON vb.response_id = va.response_id
           JOIN judges jb ON jb.id = vb.judge_id AND jb.name = ?
           JOIN responses r ON r.id = va.response_id JOIN prompts p ON p.id = r.prompt_id
           WHERE va.label <> vb.label ORDER BY r.id""", db.conn, params=[judge_a, judge_b])


def overlap(db: sqlite_utils.Database, judge_a: str, judge_b: str) -> int:
    """How many responses both judges labelled (the denominator for their disagreement rate)."""
    return db.conn.execute(
        """SELECT count(*) FROM verdicts va JOIN judges ja ON ja.id = va.judge_id AND ja.name = ?
           JOIN verdicts vb ON vb.response_id = va.response_id
           JOIN judges jb ON jb.id = vb.judge_id AND jb.name = ?""", (judge_a, judge_b)).fetchone()[0]

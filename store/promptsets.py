"""SQL for building prompt sets: which generation calls and moderations are still to do, recording
each answer with its provenance, and the counts, samples and lineage the Build page and the CLI show.

A generated prompt is a row of ``prompts`` whose ``source_id`` is a hash of its normalised text
(judges.promptgen.prompt_key, computed by the caller), so a duplicate or near-duplicate of a prompt
already in the dataset is found by key and dropped, and the call's row counts it. Like every run
result, a call's answer is written in ONE transaction with its cache entry and the run's counters.
"""

import json

import pandas as pd
import sqlite_utils

from errors import UserError
from labels import REFUSALS
from store import runs, users
from store.connection import write_transaction
from store.runs import _cache_put, _count
from store.selection import Selection, prompt_where
from store.writes import add_prompts

_PROMPT_ITEM = "p.id AS prompt_id, p.dataset, p.source_id, p.category, p.subcategory, p.text AS prompt"
_REFUSAL_SQL = "(" + ", ".join(f"'{x}'" for x in sorted(REFUSALS)) + ")"


# -- what is still to do ---------------------------------------------------------------------------------

def samples_lacking(db: sqlite_utils.Database, generator: str, dataset: str, category: str, count: int) -> list[int]:
    """Sample indices 0 .. count-1 of a seed step that have no answered call yet."""
    done = {r[0] for r in db.execute(
        """SELECT sample FROM generation_calls WHERE generator = ? AND dataset = ? AND step = 'seed'
           AND category = ?""", [generator, dataset, category])}
    return [i for i in range(count) if i not in done]


def seeds_lacking_rewrite(db: sqlite_utils.Database, generator: str, into: str, selection: Selection,
                          limit: int | None = None) -> list[dict]:
    """Prompts in the selection that ``generator`` has not rewritten into ``into`` yet, oldest first."""
    cond, params = prompt_where(selection)
    sql = f"""SELECT {_PROMPT_ITEM} FROM prompts p
              WHERE NOT EXISTS (SELECT 1 FROM generation_calls g WHERE g.generator = ? AND g.dataset = ?
                                AND g.step = 'rewrite' AND g.parent_id = p.id) AND {cond} ORDER BY p.id"""
    params = [generator, into] + params
    if limit:
        sql, params = sql + " LIMIT ?", params + [limit]
    return list(db.query(sql, params))


def prompts_lacking_moderation(db: sqlite_utils.Database, judge_id: int, selection: Selection,
                               limit: int | None = None) -> list[dict]:
    """Prompts in the selection that moderator ``judge_id`` has no verdict on yet, oldest first."""
    cond, params = prompt_where(selection)
    sql = f"""SELECT {_PROMPT_ITEM} FROM prompts p
              WHERE NOT EXISTS (SELECT 1 FROM moderations m WHERE m.prompt_id = p.id AND m.judge_id = ?)
              AND {cond} ORDER BY p.id"""
    params = [judge_id] + params
    if limit:
        sql, params = sql + " LIMIT ?", params + [limit]
    return list(db.query(sql, params))


def ensure_target(db: sqlite_utils.Database, dataset: str, step: str) -> None:
    """A build step writes into a new dataset or one that it alone made: never into a benchmark
    or another step's output, where its prompts would pass for something they are not."""
    if not dataset or not dataset.strip():
        raise UserError(f"the {step} step needs a dataset name to write into")
    if db.execute("""SELECT EXISTS (SELECT 1 FROM prompts p WHERE p.dataset = ? AND NOT EXISTS (
                         SELECT 1 FROM prompt_provenance pv WHERE pv.prompt_id = p.id AND pv.step = ?))""",
                  [dataset, step]).fetchone()[0]:
        raise UserError(f"dataset {dataset!r} already holds prompts that the {step} step did not make; "
                        "choose a new name")


def count_prompts(db: sqlite_utils.Database, selection: Selection) -> int:
    cond, params = prompt_where(selection)
    return db.execute(f"SELECT count(*) FROM prompts p WHERE {cond}", params).fetchone()[0]


# -- recording answers ----------------------------------------------------------------------------------

_CALL_COLUMNS = ("run_id", "step", "dataset", "category", "parent_id", "sample", "generator", "model",
                 "template_hash", "raw_output", "format", "parsed", "kept", "duplicates", "echoes", "latency_ms",
                 "prompt_tokens", "completion_tokens")


def record_call(db: sqlite_utils.Database, run_id: int, call: dict, prompts: list[dict], cache_key: str,
                cache_value: dict) -> int:
    """One answered generation call: its row, the new prompts it made (``source_id``, ``text``,
    ``category``) with their provenance, its cache entry and the run's counters, in one transaction.
    ``call["repeats"]`` (the same text twice in the answer) and prompts already in the dataset are
    counted as duplicates. Returns how many prompts were added."""
    dataset = call["dataset"]
    with write_transaction(db):
        _cache_put(db, cache_key, cache_value)
        keys = [p["source_id"] for p in prompts]
        existing = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            existing |= {r[0] for r in db.execute(
                f"SELECT source_id FROM prompts WHERE dataset = ? AND source_id IN ({', '.join('?' * len(chunk))})",
                [dataset, *chunk])}
        new = [p for p in prompts if p["source_id"] not in existing]
        row = {**call, "run_id": run_id, "kept": len(new), "duplicates": call.get("repeats", 0) + len(existing)}
        call_id = db.conn.execute(
            f"INSERT INTO generation_calls ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))})",
            [row.get(c) for c in _CALL_COLUMNS]).lastrowid
        ids = add_prompts(db, [dict(dataset=dataset, source_id=p["source_id"], text=p["text"],
                                    category=p.get("category")) for p in new])
        db.conn.executemany(
            """INSERT INTO prompt_provenance (prompt_id, step, parent_id, call_id, model, template_hash)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [(ids[(dataset, p["source_id"])], call["step"], call.get("parent_id"), call_id, call["model"],
              call["template_hash"]) for p in new])
        _count(db, run_id, done=1, prompt_tokens=call.get("prompt_tokens"),
               completion_tokens=call.get("completion_tokens"))
        return len(new)


_MODERATION_COLUMNS = ("prompt_id", "judge_id", "label", "rationale", "raw_output", "latency_ms", "prompt_tokens",
                       "completion_tokens")


def record_moderation(db: sqlite_utils.Database, run_id: int, moderation: dict, cache_key: str,
                      cache_value: dict) -> None:
    """One moderator's verdict on a prompt, its cache entry and the run's counters, in one transaction
    (a prompt keeps the first verdict a moderator gave it)."""
    with write_transaction(db):
        _cache_put(db, cache_key, cache_value)
        db.conn.execute(
            f"""INSERT INTO moderations ({', '.join(_MODERATION_COLUMNS)}) VALUES ({', '.join('?' * len(_MODERATION_COLUMNS))})
                ON CONFLICT (prompt_id, judge_id) DO NOTHING""", [moderation.get(c) for c in _MODERATION_COLUMNS])
        _count(db, run_id, done=1, prompt_tokens=moderation.get("prompt_tokens"),
               completion_tokens=moderation.get("completion_tokens"))


def copy_prompts(db: sqlite_utils.Database, rows: list[dict], into: str, step: str, actor: str | None = None) -> int:
    """Copies of existing prompts into dataset ``into`` (the hard step, publishing): each row has
    ``prompt_id`` (the original), and may set ``category``, ``expected`` and ``detail`` (kept in its
    provenance). ``into`` is new or made by the same step before; a prompt already in it stays as it
    is (copies are snapshots: publish under a new name to take in later labels). Returns how many
    were added."""
    if not rows:
        return 0
    with users.writing_as(db, actor, "reviewer") if actor is not None else write_transaction(db):
        ensure_target(db, into, step)
        originals = {r["prompt_id"]: r for r in rows}
        found = {row["id"]: row for row in db.query(
            f"SELECT id, source_id, text, category, subcategory FROM prompts WHERE id IN "
            f"({', '.join('?' * len(originals))})", list(originals))}
        before = {r[0] for r in db.execute("SELECT source_id FROM prompts WHERE dataset = ?", [into])}
        new = [(found[pid], row) for pid, row in originals.items() if found[pid]["source_id"] not in before]
        ids = add_prompts(db, [dict(dataset=into, source_id=p["source_id"], text=p["text"],
                                    category=row.get("category", p["category"]), subcategory=p["subcategory"],
                                    expected=row.get("expected")) for p, row in new])
        db.conn.executemany(
            "INSERT INTO prompt_provenance (prompt_id, step, parent_id, detail) VALUES (?, ?, ?, ?)",
            [(ids[(into, p["source_id"])], step, p["id"], json.dumps(row.get("detail") or {}, sort_keys=True))
             for p, row in new])
        return len(new)


# -- reads -----------------------------------------------------------------------------------------------

def moderations_frame(db: sqlite_utils.Database, dataset: str = "") -> pd.DataFrame:
    """One row per moderation: prompt_id, dataset, source_id, moderator, label."""
    sql = """SELECT m.prompt_id, p.dataset, p.source_id, j.name AS moderator, m.label FROM moderations m
             JOIN judges j ON j.id = m.judge_id JOIN prompts p ON p.id = m.prompt_id"""
    params = []
    if dataset:
        sql, params = sql + " WHERE p.dataset = ?", [dataset]
    return pd.read_sql_query(sql + " ORDER BY m.prompt_id, j.name", db.conn, params=params)


def prompts_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """One row per prompt in the selection: prompt_id, dataset, source_id, category, expected, text."""
    cond, params = prompt_where(selection)
    return pd.read_sql_query(f"""SELECT p.id AS prompt_id, p.dataset, p.source_id, p.category, p.expected,
                                        p.text FROM prompts p WHERE {cond} ORDER BY p.id""", db.conn, params=params)


def refusals_frame(db: sqlite_utils.Database, dataset: str, judge: str) -> pd.DataFrame:
    """Per prompt of ``dataset`` and model that answered it: whether ``judge`` labelled any of the
    model's responses a refusal (prompt_id, model, refused). Unjudged and unparsed count as not."""
    if runs.judge_id(db, judge) is None:
        raise UserError(f"no judge named {judge!r}")
    return pd.read_sql_query(
        f"""SELECT r.prompt_id, r.model, max(coalesce(v.label IN {_REFUSAL_SQL}, 0)) AS refused
            FROM responses r JOIN prompts p ON p.id = r.prompt_id
            LEFT JOIN verdicts v ON v.response_id = r.id AND v.judge_id = (SELECT id FROM judges WHERE name = ?)
            WHERE p.dataset = ? GROUP BY r.prompt_id, r.model ORDER BY r.prompt_id, r.model""",
        db.conn, params=[judge, dataset])


def step_counts(db: sqlite_utils.Database) -> pd.DataFrame:
    """One row per built dataset and step: prompts now in it, calls answered, calls whose answer
    yielded no prompt, prompts read, kept, duplicates and echoes dropped; copies (hard, publish)
    have no calls. Seeds, rewrites, hard and published sets in the order they were made."""
    return pd.read_sql_query(
        """WITH made AS (SELECT p.dataset, pv.step, count(*) AS prompts, min(p.id) AS first
                         FROM prompt_provenance pv JOIN prompts p ON p.id = pv.prompt_id GROUP BY p.dataset, pv.step),
                calls AS (SELECT dataset, step, count(*) AS calls, sum(parsed = 0) AS unreadable_calls,
                                 sum(parsed) AS parsed, sum(kept) AS kept, sum(duplicates) AS duplicates,
                                 sum(echoes) AS echoes, group_concat(DISTINCT model) AS models
                          FROM generation_calls GROUP BY dataset, step)
           SELECT dataset, step, prompts, calls, unreadable_calls, parsed, kept, duplicates, echoes, models FROM (
           SELECT made.first, made.dataset, made.step, made.prompts, coalesce(calls.calls, 0) AS calls,
                  coalesce(calls.unreadable_calls, 0) AS unreadable_calls, coalesce(calls.parsed, 0) AS parsed,
                  coalesce(calls.kept, 0) AS kept, coalesce(calls.duplicates, 0) AS duplicates,
                  coalesce(calls.echoes, 0) AS echoes, calls.models
           FROM made LEFT JOIN calls ON calls.dataset = made.dataset AND calls.step = made.step
           UNION ALL
           SELECT NULL, calls.dataset, calls.step, 0, calls.calls, calls.unreadable_calls, calls.parsed, calls.kept,
                  calls.duplicates, calls.echoes, calls.models FROM calls
           WHERE NOT EXISTS (SELECT 1 FROM made WHERE made.dataset = calls.dataset AND made.step = calls.step))
           ORDER BY first IS NULL, first, dataset""", db.conn)


def built_datasets(db: sqlite_utils.Database) -> dict:
    """{dataset: {"step", "prompts", "calls", ...}} for every dataset made by a build step
    (``stats --json``'s ``built``)."""
    built = {}
    for row in step_counts(db).to_dict("records"):
        entry = {k: (int(v) if k not in ("step", "models") else v) for k, v in row.items()
                 if k != "dataset" and pd.notna(v)}
        entry["models"] = row["models"].split(",") if pd.notna(row["models"]) else []
        built[row["dataset"]] = entry
    return built


def sample_outputs(db: sqlite_utils.Database, dataset: str, n: int = 5) -> pd.DataFrame:
    """Up to ``n`` prompts of a built dataset spread over it, each with the prompt it came from."""
    return pd.read_sql_query(
        """SELECT p.id AS prompt_id, p.text AS prompt, p.category, parent.text AS made_from, pv.model
           FROM prompts p JOIN prompt_provenance pv ON pv.prompt_id = p.id
           LEFT JOIN prompts parent ON parent.id = pv.parent_id
           WHERE p.dataset = ? ORDER BY (p.id * 2654435761) % 4294967296 LIMIT ?""",
        db.conn, params=[dataset, n])


_LINEAGE = """WITH RECURSIVE chain (start, prompt_id, depth) AS (
        SELECT p.id, p.id, 0 FROM prompts p WHERE {where}
        UNION ALL
        SELECT chain.start, pv.parent_id, chain.depth + 1 FROM chain
        JOIN prompt_provenance pv ON pv.prompt_id = chain.prompt_id
        WHERE pv.parent_id IS NOT NULL AND chain.depth < 20)
    SELECT chain.start, p.id AS prompt_id, p.dataset, p.text, p.category, pv.step, pv.model, pv.template_hash,
           pv.detail, g.sample, g.category AS asked_category, g.generator
    FROM chain JOIN prompts p ON p.id = chain.prompt_id LEFT JOIN prompt_provenance pv ON pv.prompt_id = p.id
    LEFT JOIN generation_calls g ON g.id = pv.call_id ORDER BY chain.start, chain.depth"""


def lineages(db: sqlite_utils.Database, dataset: str) -> dict[int, list[dict]]:
    """Where each prompt of ``dataset`` came from: {prompt id: [itself, its parent, ..., its seed]},
    each entry with dataset, text, category, step, model, template hash, detail, and for a
    generated prompt the call's sample, asked category and generator. One query for the dataset."""
    chains: dict[int, list[dict]] = {}
    for row in db.query(_LINEAGE.format(where="p.dataset = ?"), [dataset]):
        start = row.pop("start")
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        chains.setdefault(start, []).append(row)
    return chains


def lineage(db: sqlite_utils.Database, prompt_id: int) -> list[dict]:
    """One prompt's chain, itself first and its seed last (see ``lineages``)."""
    chain = []
    for row in db.query(_LINEAGE.format(where="p.id = ?"), [prompt_id]):
        row.pop("start")
        row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        chain.append(row)
    return chain


def generated_datasets(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT DISTINCT p.dataset FROM prompt_provenance pv JOIN prompts p ON p.id = pv.prompt_id ORDER BY 1")]


def moderators(db: sqlite_utils.Database, dataset: str = "") -> list[str]:
    sql = """SELECT DISTINCT j.name FROM moderations m JOIN judges j ON j.id = m.judge_id
             JOIN prompts p ON p.id = m.prompt_id"""
    params = []
    if dataset:
        sql, params = sql + " WHERE p.dataset = ?", [dataset]
    return [r[0] for r in db.execute(sql + " ORDER BY 1", params)]

"""Every read the review workspace makes: filtering, ordering, paging, counting, one item in full,
and the team queue.

The unit a reviewer pages through is a *prompt* (an item: one prompt with every model's response);
a ``Selection`` (store/selection.py) is conditions on *responses* and an item is in the set when
at least one of its responses matches. Paging is always done by SQLite (``LIMIT``/``OFFSET`` or
keyset on the order key), so no call here loads a whole table and an item costs the same at 1,000
or 100,000 responses. Counting
is inherently a scan; callers cache counts on ``store.reads.change_token`` (ui/cached.py).

Order keys: ``stored`` = prompt id; ``random`` = a seeded hash of the id (a uniform random
permutation, reproducible from the seed); ``disputed`` = minus the number of distinct labels
(judges and humans) beyond the first, summed over the item's matching responses.
"""

import hashlib
from dataclasses import dataclass, field, replace

import pandas as pd
import sqlite_utils

from labels import UNPARSED
from store import adjudication, categories, discussion, reads
from store.selection import Selection, SelectionError, prompt_where, where

# --- one item in full ----------------------------------------------------------------------------

@dataclass
class Verdict:
    judge: str
    label: str
    rationale: str | None


@dataclass
class Annotation:
    id: int
    annotator: str
    label: str | None  # None: withdrawn (an undo that left nothing)
    note: str | None
    undoes: int | None
    created_at: str


@dataclass
class Response:
    id: int
    model: str
    text: str
    verdicts: list[Verdict] = field(default_factory=list)
    history: list[Annotation] = field(default_factory=list)  # oldest first, undos included
    current: dict[str, Annotation] = field(default_factory=dict)  # annotator -> label now (the view's rows)
    side: str | None = None  # "chosen" / "rejected" for a preference pair's responses (CoCoNot's pref set)
    tags: list[str] = field(default_factory=list)
    comments: list[discussion.Comment] = field(default_factory=list)
    final: adjudication.Final | None = None  # the adjudicator's final label, when there is one

    def judge_human_disagree(self) -> bool:
        return bool(judges_differ([v.label for v in self.verdicts], [a.label for a in self.current.values()],
                                  self.final.label if self.final else None))


@dataclass
class Item:
    prompt_id: int
    dataset: str
    split: str | None
    source_id: str
    category: str | None
    subcategory: str | None
    text: str
    expected: str | None
    team_categories: list[str]
    rubric: str | None  # categories.rubrics_for: the same text an LLM judge is sent for this prompt
    responses: list[Response]


def fetch_items(db: sqlite_utils.Database, prompt_ids: list[int], model: str = "") -> list[Item]:
    """Prompts with their responses (only ``model``'s when given), verdicts and label history, in
    the order asked; a fixed number of queries however many items (showcases read many at once)."""
    if not prompt_ids:
        return []
    marks = ", ".join("?" * len(prompt_ids))
    prompts = {row[0]: row for row in db.execute(
        f"SELECT id, dataset, split, source_id, category, subcategory, text, expected FROM prompts "
        f"WHERE id IN ({marks})", prompt_ids)}
    found = [pid for pid in prompt_ids if pid in prompts]
    teams = categories.for_prompts(db, found)
    rubrics = categories.rubrics_for(db, found)
    sql, params = (f"""SELECT id, prompt_id, model, text, CASE WHEN json_valid(settings)
                       THEN json_extract(settings, '$.preference') END FROM responses
                       WHERE prompt_id IN ({marks})""", list(prompt_ids))
    if model:
        sql, params = sql + " AND model = ?", params + [model]
    responses: dict[int, Response] = {}
    by_prompt: dict[int, list[Response]] = {pid: [] for pid in found}
    for rid, pid, m, t, side in db.execute(sql + " ORDER BY model, id", params):
        responses[rid] = Response(rid, m, t, side=side)
        by_prompt[pid].append(responses[rid])
    ids = list(responses)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for rid, judge, label, rationale in db.execute(
            f"""SELECT v.response_id, j.name, v.label, v.rationale FROM verdicts v
                JOIN judges j ON j.id = v.judge_id WHERE v.response_id IN ({marks}) ORDER BY j.name""", chunk):
            responses[rid].verdicts.append(Verdict(judge, label, rationale))
        for aid, rid, annotator, label, note, undoes, created in db.execute(
            f"""SELECT id, response_id, annotator, label, note, undoes, created_at FROM annotations
                WHERE response_id IN ({marks}) ORDER BY id""", chunk):
            responses[rid].history.append(Annotation(aid, annotator, label, note, undoes, created))
        for aid, rid, annotator, label, note, undoes, created in db.execute(
            f"""SELECT id, response_id, annotator, label, note, undoes, created_at FROM current_annotations
                WHERE response_id IN ({marks}) ORDER BY id""", chunk):
            responses[rid].current[annotator] = Annotation(aid, annotator, label, note, undoes, created)
    for rid, tags in discussion.tags_of(db, ids).items():
        responses[rid].tags = tags
    for rid, thread in discussion.comments_of(db, ids).items():
        responses[rid].comments = thread
    for rid, final in adjudication.finals_of(db, ids).items():
        responses[rid].final = final
    return [Item(*prompts[pid], team_categories=teams.get(pid, []), rubric=rubrics.get(pid),
                 responses=by_prompt[pid]) for pid in found]


def fetch_item(db: sqlite_utils.Database, prompt_id: int, model: str = "") -> Item | None:
    """One prompt with its responses (only ``model``'s when given), verdicts and label history."""
    items = fetch_items(db, [prompt_id], model)
    return items[0] if items else None


def find_prompt(db: sqlite_utils.Database, source_id: str, dataset: str = "") -> list[int]:
    """Prompt ids with the benchmark's own id ``source_id`` (one per dataset holding it)."""
    sql, params = "SELECT id FROM prompts WHERE source_id = ?", [source_id]
    if dataset:
        sql, params = sql + " AND dataset = ?", params + [dataset]
    return [r[0] for r in db.execute(sql + " ORDER BY id", params)]


# --- search matches ----------------------------------------------------------------------------

def _marked_words(highlighted: str, text: str) -> set[str]:
    """The words FTS5's ``highlight()`` wrapped in markers, read by walking the original text next
    to its highlighted copy (the markers are characters the text does not contain)."""
    words, i, j, start = set(), 0, 0, None
    while j < len(highlighted):
        ch = highlighted[j]
        if ch == _OPEN:
            start = i
        elif ch == _CLOSE:
            if start is not None and i > start:
                words.add(text[start:i])
            start = None
        else:
            i += 1
        j += 1
    return words


_OPEN, _CLOSE = "\ue000", "\ue001"  # Unicode private use: never in a benchmark's text (checked per text)


def search_matches(db: sqlite_utils.Database, search: str, prompt_id: int, response_ids: list[int]
                   ) -> dict[str, set[str]]:
    """The words of a prompt and its responses that the search matched, as SQLite's full-text index
    decides (stemming, prefixes, phrases): {"prompt": words, "<response id>": words}. The Review
    page highlights them; an empty search matches nothing."""
    from store.selection import fts_query

    positive, _ = fts_query(search)
    if not positive:
        return {}
    found: dict[str, set[str]] = {}
    queries = [("prompt", "prompts_fts", prompt_id)] + [(str(rid), "responses_fts", rid) for rid in response_ids]
    for key, table, rowid in queries:
        row = db.execute(f"SELECT highlight({table}, 0, ?, ?), text FROM {table} WHERE {table} MATCH ? AND rowid = ?",
                         [_OPEN, _CLOSE, positive, rowid]).fetchone()
        if row and _OPEN not in row[1] and _CLOSE not in row[1]:
            found[key] = _marked_words(row[0], row[1])
    return found


# --- the selection's items, ordered --------------------------------------------------------------

_RESPONSE_DISPUTE = f"""max(0, (SELECT count(DISTINCT x) FROM (
        SELECT v.label AS x FROM verdicts v WHERE v.response_id = r.id AND v.label != '{UNPARSED}'
        UNION ALL SELECT a.label FROM current_annotations a WHERE a.response_id = r.id)) - 1)"""


def _rank(seed: int, item_id: int) -> int:
    """A seeded pseudo-random key: ordering by it is a uniform random permutation of the ids."""
    digest = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _read(db: sqlite_utils.Database, sql: str, params) -> list[tuple]:
    db.conn.create_function("review_rank", 2, _rank, deterministic=True)
    return db.execute(sql, params).fetchall()


def _items_sql(s: Selection) -> tuple[str, list]:
    """(prompt id, order key) of every item (a prompt with at least one selected response)."""
    cond, params = where(s)
    if s.order == "disputed":
        sql = f"""SELECT r.prompt_id AS id, -sum({_RESPONSE_DISPUTE}) AS k
                  FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE {cond} GROUP BY r.prompt_id"""
        return sql, params
    key = "review_rank(?, p.id)" if s.order == "random" else "p.id"
    key_params = [s.seed] if s.order == "random" else []
    sql = f"""SELECT p.id AS id, {key} AS k FROM prompts p
              WHERE EXISTS (SELECT 1 FROM responses r WHERE r.prompt_id = p.id AND {cond})"""
    return sql, key_params + params


def count_items(db: sqlite_utils.Database, s: Selection) -> int:
    sql, params = _items_sql(s)
    return _read(db, f"SELECT count(*) FROM ({sql})", params)[0][0]


def prompt_ids(db: sqlite_utils.Database, s: Selection) -> list[int]:
    """Every prompt id in the selection, ascending: what a bulk action (assign to a category) acts on.
    Without conditions on responses a prompt counts whether or not it has any (a benchmark's prompts
    before generation); with them, only prompts with a selected response do."""
    sql, params = _items_sql(s)
    sql = f"SELECT id FROM ({sql})"
    if not s.on_responses:
        prompt_cond, prompt_params = prompt_where(s)
        sql, params = f"{sql} UNION SELECT p.id FROM prompts p WHERE {prompt_cond}", params + prompt_params
    return [r[0] for r in _read(db, f"SELECT id FROM ({sql}) ORDER BY id", params)]


def item_ids(db: sqlite_utils.Database, s: Selection, offset: int = 0, limit: int = 1) -> list[int]:
    """Prompt ids at positions ``offset`` .. ``offset + limit - 1`` of the ordered set."""
    sql, params = _items_sql(s)
    return [r[0] for r in _read(db, f"SELECT id FROM ({sql}) ORDER BY k, id LIMIT ? OFFSET ?",
                                params + [limit, offset])]


def _key_of(db: sqlite_utils.Database, s: Selection, prompt_id: int):
    """The order key of ``prompt_id`` under ``s`` (it may have left the set since it was opened)."""
    if s.order == "stored":
        return prompt_id
    if s.order == "random":
        return _rank(s.seed, prompt_id)
    cond, params = where(s)
    return _read(db, f"""SELECT -coalesce(sum({_RESPONSE_DISPUTE}), 0) FROM responses r
                         JOIN prompts p ON p.id = r.prompt_id WHERE r.prompt_id = ? AND {cond}""",
                 [prompt_id] + params)[0][0]


def neighbour(db: sqlite_utils.Database, s: Selection, prompt_id: int, step: int) -> int | None:
    """The item after (``step=1``) or before (``step=-1``) ``prompt_id`` in the order (keyset paging,
    so it works even when labelling has just moved the current item out of the selection)."""
    sql, params = _items_sql(s)
    key = _key_of(db, s, prompt_id)
    if step > 0:
        cond, order = "(k > ? OR (k = ? AND id > ?))", "k, id"
    else:
        cond, order = "(k < ? OR (k = ? AND id < ?))", "k DESC, id DESC"
    rows = _read(db, f"SELECT id FROM ({sql}) WHERE {cond} ORDER BY {order} LIMIT 1", params + [key, key, prompt_id])
    return rows[0][0] if rows else None


def position(db: sqlite_utils.Database, s: Selection, prompt_id: int) -> int:
    """How many items come before ``prompt_id`` in the order (0-based position when it is in the set)."""
    sql, params = _items_sql(s)
    key = _key_of(db, s, prompt_id)
    return _read(db, f"SELECT count(*) FROM ({sql}) WHERE k < ? OR (k = ? AND id < ?)",
                 params + [key, key, prompt_id])[0][0]


def contains(db: sqlite_utils.Database, s: Selection, prompt_id: int) -> bool:
    cond, params = where(s)
    return bool(_read(db, f"""SELECT EXISTS (SELECT 1 FROM responses r JOIN prompts p ON p.id = r.prompt_id
                              WHERE r.prompt_id = ? AND {cond})""", [prompt_id] + params)[0][0])


@dataclass(frozen=True)
class Progress:
    items: int
    responses: int
    labelled: int  # responses with at least one human label
    mine: int  # responses the reviewer has labelled


def size(db: sqlite_utils.Database, s: Selection) -> tuple[int, int]:
    """(items, responses) in the selection: a scan, cached apart from the labels by the UI."""
    cond, params = where(s)
    return tuple(_read(db, f"""SELECT count(DISTINCT r.prompt_id), count(*) FROM responses r
                               JOIN prompts p ON p.id = r.prompt_id WHERE {cond}""", params)[0])


def labelled(db: sqlite_utils.Database, s: Selection, reviewer: str | None = None) -> tuple[int, int]:
    """(responses in the selection with a human label, of them labelled by ``reviewer``), read from the
    labels' side: it costs what is labelled, not the size of the database."""
    cond, params = where(s)
    row = _read(db, f"""SELECT count(*), coalesce(sum(mine), 0) FROM (
                          SELECT a.response_id, max(a.annotator = ?) AS mine FROM current_annotations a
                          GROUP BY a.response_id) labelled
                        JOIN responses r ON r.id = labelled.response_id JOIN prompts p ON p.id = r.prompt_id
                        WHERE {cond}""", [reviewer or ""] + params)[0]
    return row[0], row[1]


def progress(db: sqlite_utils.Database, s: Selection, reviewer: str | None = None) -> Progress:
    """Counts for the progress widget: labelled / total responses in the selection."""
    return Progress(*size(db, s), *labelled(db, s, reviewer))


# --- browse table ----------------------------------------------------------------------------------

def browse_page(db: sqlite_utils.Database, s: Selection, offset: int, limit: int) -> pd.DataFrame:
    """One page of the selection as rows per response, in the items' order: prompt_id, source_id,
    dataset, category, prompt, model, response (the first 200 characters), judges ("judge: label"
    list), humans ("annotator: label" list), final (the adjudicator's final label), tags
    (comma-joined), agreement, response_id, and ``verdicts`` / ``labels``: the same judges and
    humans as [name, label] pairs, for pages that show them under display names."""
    sql, params = _items_sql(s)
    cond, cond_params = where(s)
    rows = _read(db, f"""
        WITH page AS (SELECT r.id AS rid, items.k, items.id AS pid FROM ({sql}) items
                      JOIN responses r ON r.prompt_id = items.id JOIN prompts p ON p.id = r.prompt_id
                      WHERE {cond} ORDER BY items.k, items.id, r.model, r.id LIMIT ? OFFSET ?)
        SELECT p.id, p.source_id, p.dataset, p.category, substr(p.text, 1, 160), r.model, substr(r.text, 1, 200),
               (SELECT group_concat(j.name || char(31) || v.label, char(30)) FROM verdicts v JOIN judges j
                  ON j.id = v.judge_id WHERE v.response_id = r.id),
               (SELECT group_concat(a.annotator || char(31) || a.label, char(30)) FROM current_annotations a
                  WHERE a.response_id = r.id),
               (SELECT f.label FROM current_adjudications f WHERE f.response_id = r.id),
               (SELECT group_concat(t.tag, ',') FROM current_tags t WHERE t.response_id = r.id),
               r.id
        FROM page JOIN responses r ON r.id = page.rid JOIN prompts p ON p.id = r.prompt_id
        ORDER BY page.k, page.pid, r.model, r.id""", params + cond_params + [limit, offset])
    frame = pd.DataFrame(rows, columns=["prompt_id", "source_id", "dataset", "category", "prompt", "model",
                                        "response", "verdicts", "labels", "final", "tags", "response_id"])
    for column in ("verdicts", "labels"):
        frame[column] = frame[column].map(lambda v: [pair.split("\x1f", 1) for pair in v.split("\x1e")]
                                          if isinstance(v, str) and v else [])
    frame["judges"] = frame["verdicts"].map(lambda pairs: "; ".join(f"{n}: {label}" for n, label in pairs))
    frame["humans"] = frame["labels"].map(lambda pairs: "; ".join(f"{n}: {label}" for n, label in pairs))
    frame["agreement"] = [_agreement(v, a, f) for v, a, f in zip(frame["verdicts"], frame["labels"], frame["final"])]
    return frame[["prompt_id", "source_id", "dataset", "category", "prompt", "model", "response", "judges", "humans",
                  "final", "tags", "agreement", "response_id", "verdicts", "labels"]]


def judges_differ(judged: list[str], human: list[str], final: str | None) -> bool | None:
    """Whether a readable judge label differs from a human one (the adjudicator's final label stands
    for the humans where there is one); None until both a judge and a human have spoken, so judges
    agreeing with each other never reads as a check against people. The Review page's badge and
    Browse's "agree?" column both ask this."""
    humans = {final} if isinstance(final, str) else set(human)
    readable = {label for label in judged if label != UNPARSED}
    if not humans or not readable:
        return None
    return any(h != j for h in humans for j in readable)


def _agreement(verdicts: list, labels: list, final) -> str:
    differ = judges_differ([label for _, label in verdicts], [label for _, label in labels], final)
    return "" if differ is None else ("disagree" if differ else "agree")


def grid_page(db: sqlite_utils.Database, s: Selection, offset: int, limit: int, judge: str = "") -> pd.DataFrame:
    """The items at ``offset`` .. ``offset + limit - 1`` as one row per response, for a prompts x
    models grid: prompt_id, source_id, prompt (first 120 characters), model, response_id,
    judge_label (``judge``'s verdict, when given), labels (the humans' current labels, a list) and
    final (the adjudicator's final label)."""
    ids = item_ids(db, s, offset, limit)
    if not ids:
        return pd.DataFrame(columns=["prompt_id", "source_id", "prompt", "model", "response_id", "judge_label",
                                     "labels", "final"])
    marks = ", ".join("?" * len(ids))
    cond, params = where(s)
    rows = db.execute(f"""
        SELECT p.id, p.source_id, substr(p.text, 1, 120), r.model, r.id,
               (SELECT v.label FROM verdicts v JOIN judges j ON j.id = v.judge_id
                WHERE v.response_id = r.id AND j.name = ?),
               (SELECT group_concat(a.label, ',') FROM current_annotations a WHERE a.response_id = r.id),
               (SELECT f.label FROM current_adjudications f WHERE f.response_id = r.id)
        FROM responses r JOIN prompts p ON p.id = r.prompt_id
        WHERE p.id IN ({marks}) AND {cond} ORDER BY r.model, r.id""", [judge, *ids, *params]).fetchall()
    frame = pd.DataFrame(rows, columns=["prompt_id", "source_id", "prompt", "model", "response_id", "judge_label",
                                        "labels", "final"])
    frame["labels"] = frame["labels"].map(lambda v: v.split(",") if isinstance(v, str) and v else [])
    order = {pid: i for i, pid in enumerate(ids)}
    return frame.sort_values("prompt_id", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


# --- team queue -----------------------------------------------------------------------------------

def _queue_sql(s: Selection, reviewer: str, overlap: int, skip: tuple[int, ...]) -> tuple[str, list]:
    """Responses in the selection ``reviewer`` has not labelled and fewer than ``overlap`` people have."""
    cond, params = where(s)
    if skip:
        cond += f" AND r.id NOT IN ({', '.join('?' * len(skip))})"
        params = params + list(skip)
    sql = f"""FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE {cond}
          AND NOT EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id AND a.annotator = ?)
          AND (SELECT count(*) FROM current_annotations a WHERE a.response_id = r.id) < ?"""
    return sql, params + [reviewer, overlap]


def queue_next(db: sqlite_utils.Database, s: Selection, reviewer: str, overlap: int = 1,
               random_sample: bool = False, seed: int = 0, skip: tuple[int, ...] = ()) -> tuple[int, int] | None:
    """The next (prompt id, response id) for ``reviewer`` from the queue (``_queue_sql``). With
    ``random_sample`` responses come in a seeded uniform random order, so the labelled ones at any
    moment are a simple random sample of the selection (what prediction-powered estimates assume);
    otherwise in stored order. ``skip``: response ids the reviewer passed over in this session
    (skipping makes that reviewer's share of the sample less than uniform)."""
    sql, params = _queue_sql(s, reviewer, overlap, skip)
    key, key_params = ("review_rank(?, r.id)", [seed]) if random_sample else ("r.id", [])
    rows = _read(db, f"SELECT r.prompt_id, r.id {sql} ORDER BY {key}, r.id LIMIT 1", params + key_params)
    return tuple(rows[0]) if rows else None


def queue_left(db: sqlite_utils.Database, s: Selection, reviewer: str, overlap: int = 1) -> int:
    """How many responses the queue still holds for ``reviewer``."""
    sql, params = _queue_sql(s, reviewer, overlap, ())
    return _read(db, f"SELECT count(*) {sql}", params)[0][0]


# --- selection choices -----------------------------------------------------------------------------

def options(db: sqlite_utils.Database) -> dict[str, list[str]]:
    """The values each selection field can take (distinct values present in the database). The
    judges are those that judged responses (have a verdict): a moderator judges prompts
    (``moderations``), and offering it to "judged by", a judge's figures or a judge's colours would
    only ever find nothing."""
    column = lambda sql: [r[0] for r in db.execute(sql) if r[0] not in (None, "")]  # noqa: E731
    return {
        "dataset": column("SELECT DISTINCT dataset FROM prompts ORDER BY 1"),
        "category": column("SELECT DISTINCT category FROM prompts ORDER BY 1"),
        "subcategory": column("SELECT DISTINCT subcategory FROM prompts ORDER BY 1"),
        "model": column("SELECT DISTINCT model FROM responses ORDER BY 1"),
        "judge": reads.judges_with_verdicts(db),
        "expected": column("SELECT DISTINCT expected FROM prompts ORDER BY 1"),
        "team_category": column("SELECT name FROM categories ORDER BY 1"),
    }


def checked(db: sqlite_utils.Database, s: Selection) -> Selection:
    """``s`` with its judge resolved (a display name or a unique prefix, store.names), after checking
    that every value it names exists here: a typo (``--dataset nosuchset``) is an error naming the
    values there are, not an empty result that looks like an answer."""
    from store import (
        names,  # names reads judges through store.runs, which reads selections: lazy
    )

    known = {**options(db), "tag": discussion.vocabulary(db)}
    for name in ("dataset", "category", "subcategory", "model", "team_category", "tag"):
        value = getattr(s, name)
        if value and value not in known[name]:
            there = ", ".join(known[name][:20]) + (" …" if len(known[name]) > 20 else "") or "none"
            raise SelectionError(f"no {name.replace('_', ' ')} {value!r} in this database ({name.replace('_', ' ')}s: "
                                 f"{there})")
    return replace(s, judge=names.resolve_judge(db, s.judge)) if s.judge else s

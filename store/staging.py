"""Imports that never hold the write lock for long: stage the file's rows outside the database,
then publish them in short transactions that can be undone.

Why: a million-response import takes minutes to read and check and minutes to write (the text,
its indexes and the full-text index). Done in one transaction it held the write lock the whole
time, and every reviewer's label failed with "database is locked". Now:

1. **Stage.** ``Stage`` takes an importer's rows and writes them, a chunk of CHUNK_ROWS at a time,
   into a private temporary SQLite database (SQLite's own temporary file, deleted when it is
   closed): no lock on the real database is taken and memory holds one chunk. In-file duplicate
   prompts are found here (``Stage.prompt``).
2. **Check.** Before anything is written, every staged prompt whose (dataset, id) is already in
   the database must have the same text (``PromptConflict`` otherwise; the importer names the file,
   line and id). Prompts found are marked, so only they are enriched later.
3. **Publish.** An ``ImportGroup`` (one per import; ``import_group`` makes several files one
   import) writes new prompts, then responses with their verdicts, in transactions sized to last
   about PUBLISH_SECONDS each, with a pause after each so a waiting writer (a reviewer's label)
   goes in between. Each transaction records the id ranges it added in ``import_journal``. One
   last transaction adds what deleting rows could not undo (human labels, which are append-only;
   category assignments; fields filled into prompts that existed before; whatever an importer
   hangs on the published responses, such as our own export's tags, comments and final labels)
   and clears the journal.
4. **Undo.** When anything fails, the journal's ranges are deleted again, in short transactions
   too, so the import leaves nothing. A process killed while publishing leaves its journal behind
   and the next writable ``store.connect`` undoes it (``store.connection.recover``).

What readers see: while an import publishes, its rows appear transaction by transaction; the
import is all-or-nothing on failure, not atomic to a reader in the meantime (that would take a
"published" mark every read in store/ honours). A response a reviewer labels meanwhile is kept by
an undo (labels are never deleted), with its prompt. When the caller already holds a transaction,
everything is published inside it and the caller's transaction is the unit.
"""

import contextlib
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable

import sqlite_utils

from store import categories, writes
from store.connection import (
    ACTIVE_IMPORTS,
    JOURNAL_TABLES,
    StoreError,
    db_path,
    undo,
    write_transaction,
)

CHUNK_ROWS = 5_000  # rows held in memory before they go to the staging file
PUBLISH_SECONDS = 0.25  # aim of one publishing transaction: a waiting label waits at most about this
PAUSE_SECONDS = 0.005  # after each transaction: enough for a waiting writer, which polls every 1-2 ms
FIRST_STEP_ROWS, MIN_STEP_ROWS, MAX_STEP_ROWS = 1_000, 100, 50_000
IMPORT_CACHE_KB = 65_536  # page cache while publishing (SQLite's default 2 MB): a million-row import 15% faster
SPACE_FACTOR = 2  # database growth per staged byte, measured: 1.76 KB a response for 0.86 KB of text

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -32768;
CREATE TABLE prompts (id INTEGER PRIMARY KEY, line NOT NULL /* a line, or a record's path */, dataset TEXT NOT NULL,
    source_id TEXT NOT NULL, split TEXT, category TEXT, subcategory TEXT, text TEXT NOT NULL, expected TEXT,
    metadata TEXT, existed INTEGER NOT NULL DEFAULT 0, UNIQUE (dataset, source_id));
CREATE TABLE responses (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, source_id TEXT NOT NULL,
    model TEXT NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL, settings TEXT);
CREATE TABLE judges (name TEXT PRIMARY KEY, kind TEXT NOT NULL);
CREATE TABLE verdicts (id INTEGER PRIMARY KEY, response INTEGER NOT NULL, judge TEXT NOT NULL,
    label TEXT NOT NULL, rationale TEXT, raw_output TEXT);
CREATE INDEX verdicts_response ON verdicts (response);
CREATE TABLE annotations (id INTEGER PRIMARY KEY, response INTEGER NOT NULL, annotator TEXT NOT NULL,
    label TEXT NOT NULL, note TEXT);
CREATE TABLE assignments (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, source_id TEXT NOT NULL,
    name TEXT NOT NULL);
"""
_PROMPT_FIELDS = ("line", "dataset", "source_id", "split", "category", "subcategory", "text", "expected", "metadata")


class PromptConflict(Exception):
    """A staged prompt's (dataset, id) is already in the database with a different text."""

    def __init__(self, line: int, dataset: str, source_id: str, existing: str):
        self.line, self.dataset, self.source_id, self.existing = line, dataset, source_id, existing
        super().__init__(f"line {line}: {dataset}/{source_id} exists with another text")


def same_text(a: str, b: str) -> bool:
    """One rule for "the same prompt" wherever ids meet: equal up to surrounding whitespace."""
    return a.strip() == b.strip()


class Stage:
    """A file's rows on their way into the database: buffered a chunk at a time, kept in a
    private temporary database, then published by an ``ImportGroup``."""

    def __init__(self):
        with _staging_errors():
            self.conn = sqlite3.connect("", isolation_level=None)  # "": SQLite's private temporary file
            self.conn.executescript(_SCHEMA)
            self.conn.execute("BEGIN")  # one transaction for the whole staging: nothing to make durable
        self._prompts: dict[tuple[str, str], dict] = {}
        self._responses, self._verdicts, self._annotations, self._assignments = [], [], [], []
        self._judges: dict[str, str] = {}
        self.responses = 0  # staged so far; a response's number is its staging id

    # -- staging ---------------------------------------------------------------------------------
    def prompt(self, key: tuple[str, str]) -> tuple[int, str] | None:
        """(line, text) of the prompt staged under ``key``, or None."""
        if (row := self._prompts.get(key)) is not None:
            return row["line"], row["text"]
        return self.conn.execute("SELECT line, text FROM prompts WHERE dataset = ? AND source_id = ?",
                                 key).fetchone()

    def add_prompt(self, row: dict) -> None:
        """Stage a prompt not staged before (``prompt(key)`` is None)."""
        self._prompts[(row["dataset"], row["source_id"])] = row
        self._maybe_flush()

    def add_response(self, key: tuple[str, str], model: str, text: str, settings=None) -> int:
        self.responses += 1
        self._responses.append((self.responses, *key, model, text, writes.text_hash(text), writes.as_json(settings)))
        self._maybe_flush()
        return self.responses

    def add_verdict(self, response: int, judge: str, kind: str, label: str, rationale=None, raw_output=None):
        self._judges.setdefault(judge, kind)
        self._verdicts.append((response, judge, label, rationale, raw_output))
        self._maybe_flush()

    def add_annotation(self, response: int, annotator: str, label: str, note=None):
        self._annotations.append((response, annotator, label, note))
        self._maybe_flush()

    def add_assignment(self, key: tuple[str, str], name: str):
        self._assignments.append((*key, name))
        self._maybe_flush()

    def _maybe_flush(self):
        if len(self._prompts) + len(self._responses) + len(self._verdicts) + len(self._annotations) \
                + len(self._assignments) >= CHUNK_ROWS:
            self.flush()

    def flush(self):
        with _staging_errors():
            self._flush()

    def _flush(self):
        c = self.conn
        c.executemany(f"INSERT INTO prompts ({', '.join(_PROMPT_FIELDS)}) "
                      f"VALUES ({', '.join('?' * len(_PROMPT_FIELDS))})",
                      [tuple(writes.as_json(r[f]) if f == "metadata" else r[f] for f in _PROMPT_FIELDS)
                       for r in self._prompts.values()])
        c.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", self._responses)
        c.executemany("INSERT INTO judges VALUES (?, ?) ON CONFLICT DO NOTHING", self._judges.items())
        c.executemany("INSERT INTO verdicts (response, judge, label, rationale, raw_output) VALUES (?, ?, ?, ?, ?)",
                      self._verdicts)
        c.executemany("INSERT INTO annotations (response, annotator, label, note) VALUES (?, ?, ?, ?)",
                      self._annotations)
        c.executemany("INSERT INTO assignments (dataset, source_id, name) VALUES (?, ?, ?)", self._assignments)
        self._prompts, self._responses, self._verdicts, self._annotations, self._assignments = {}, [], [], [], []
        self._judges = {}

    def count_prompts(self) -> int:
        return len(self._prompts) + self.conn.execute("SELECT count(*) FROM prompts").fetchone()[0]

    def preview(self, rows: int) -> list[dict]:
        """The first ``rows`` responses with their prompts and verdicts (or the first prompts, when
        there are no responses) as flat rows."""
        self.flush()
        out = [dict(dataset=r[0], id=r[1], category=r[2], expected=r[3], prompt=r[4], model=r[5], response=r[6],
                    verdicts=r[7] or "") for r in self.conn.execute(
            """SELECT p.dataset, p.source_id, p.category, p.expected, p.text, r.model, r.text,
                      (SELECT group_concat(v.judge || ': ' || v.label, '; ') FROM verdicts v WHERE v.response = r.id)
               FROM responses r JOIN prompts p ON p.dataset = r.dataset AND p.source_id = r.source_id
               ORDER BY r.id LIMIT ?""", (rows,))]
        if out:
            return out
        return [dict(dataset=r[0], id=r[1], category=r[2], expected=r[3], prompt=r[4]) for r in self.conn.execute(
            "SELECT dataset, source_id, category, expected, text FROM prompts ORDER BY id LIMIT ?", (rows,))]

    def totals(self) -> dict:
        """What the staged file holds: datasets, prompts, distinct responses."""
        self.flush()
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return dict(datasets=[r[0] for r in self.conn.execute("SELECT DISTINCT dataset FROM prompts ORDER BY 1")],
                    prompts=one("SELECT count(*) FROM prompts"),
                    responses=one("SELECT count(*) FROM (SELECT DISTINCT dataset, source_id, model, text_hash "
                                  "FROM responses)"))

    def close(self):
        self.conn.close()  # SQLite deletes the temporary file

    # -- checking --------------------------------------------------------------------------------
    def check(self, db: sqlite_utils.Database) -> None:
        """Raise PromptConflict for the first staged prompt (in file order) whose id the database
        already has with another text; mark the staged prompts the database already has. Reads
        only: no lock is taken."""
        self.flush()
        for rows in _pages(self.conn, "SELECT id, line, dataset, source_id, text FROM prompts", CHUNK_ROWS):
            found = _existing_prompts(db, [(r[2], r[3]) for r in rows])
            for sid, line, dataset, source_id, text in rows:
                if (dataset, source_id) in found:
                    existing = found[(dataset, source_id)][1]
                    if not same_text(existing, text):
                        raise PromptConflict(line, dataset, source_id, existing)
            self.conn.executemany("UPDATE prompts SET existed = 1 WHERE id = ?",
                                  [(r[0],) for r in rows if (r[2], r[3]) in found])

    def check_space(self, db: sqlite_utils.Database) -> None:
        """Refuse up front when the disk cannot hold the import: a disk filling up halfway through
        publishing leaves no room to undo it either (``recover`` does, once there is room). Needed:
        SPACE_FACTOR times what was staged (text plus indexes, full-text index and the WAL)."""
        path = db_path(db)
        if path == ":memory:":
            return
        staged = self.conn.execute("PRAGMA page_count").fetchone()[0] * self.conn.execute(
            "PRAGMA page_size").fetchone()[0]
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        if free < SPACE_FACTOR * staged:
            raise StoreError(f"{path}: the disk is full for this import: it needs about "
                             f"{SPACE_FACTOR * staged / 1e6:.0f} MB and {free / 1e6:.0f} MB are free; "
                             "nothing was written")

    # -- publishing (driven by ImportGroup) -------------------------------------------------------
    _COLUMNS = ", ".join(f for f in _PROMPT_FIELDS if f != "line")

    def publish_rows(self, group: "ImportGroup", origin: str) -> int:
        """New prompts, then responses with their verdicts, a step at a time; returns verdicts added."""
        db = group.db
        for rows in group.steps("prompts", self.conn, f"SELECT id, {self._COLUMNS} FROM prompts WHERE existed = 0"):
            staged = {(r[1], r[2]): r for r in rows}
            ids = writes.add_prompts(db, [dict(zip(_PROMPT_FIELDS[1:], r[1:])) for r in rows])
            raced = [k for k, i in ids.items() if i <= group.before["prompts"]]  # another import added it meanwhile
            for key, (_, text) in _existing_prompts(db, raced).items():
                if not same_text(text, staged[key][6]):
                    raise PromptConflict(self.prompt(key)[0], *key, text)

        judges = dict(self.conn.execute("SELECT name, kind FROM judges"))
        judge_ids: dict[str, int] = {}
        verdicts_added = 0
        select = "SELECT id, dataset, source_id, model, text, text_hash, settings FROM responses"
        for rows in group.steps("responses", self.conn, select):
            prompt_ids = {k: v[0] for k, v in _existing_prompts(db, {(r[1], r[2]) for r in rows}).items()}
            response_ids = dict(zip((r[0] for r in rows), writes.add_responses(db, [
                dict(prompt_id=prompt_ids[(r[1], r[2])], model=r[3], text=r[4], text_hash=r[5], origin=origin,
                     settings=r[6]) for r in rows])))
            verdicts = self.conn.execute(
                "SELECT response, judge, label, rationale, raw_output FROM verdicts WHERE response BETWEEN ? AND ? "
                "ORDER BY id", (rows[0][0], rows[-1][0])).fetchall()
            for name in {v[1] for v in verdicts} - judge_ids.keys():
                judge_ids[name] = writes.ensure_judge(db, name, judges[name], {"source": origin})
            verdicts_added += writes.add_verdicts(db, [
                dict(response_id=response_ids[v[0]], judge_id=judge_ids[v[1]], label=v[2], rationale=v[3],
                     raw_output=v[4]) for v in verdicts])
        return verdicts_added

    def count_labels(self) -> int:
        return self.conn.execute("SELECT count(*) FROM annotations").fetchone()[0]

    def publish_final(self, db: sqlite_utils.Database) -> int:
        """Inside the group's last transaction, what deleting rows could not undo: fields filled
        into prompts that existed before, human labels, category assignments. Returns labels added."""
        enriched = self.conn.execute(f"SELECT {self._COLUMNS} FROM prompts WHERE existed = 1")
        while rows := enriched.fetchmany(CHUNK_ROWS):
            writes.add_prompts(db, [dict(zip(_PROMPT_FIELDS[1:], r)) for r in rows])
        added = 0
        labels = self.conn.execute(
            "SELECT r.dataset, r.source_id, r.model, r.text_hash, a.annotator, a.label, a.note "
            "FROM annotations a JOIN responses r ON r.id = a.response ORDER BY a.id")
        while rows := labels.fetchmany(CHUNK_ROWS):
            ids = _response_ids(db, rows)
            added += writes.import_annotations(db, [
                dict(response_id=ids[r[:4]], annotator=r[4], label=r[5], note=r[6]) for r in rows])
        assignments = self.conn.execute("SELECT dataset, source_id, name FROM assignments ORDER BY id")
        while rows := assignments.fetchmany(CHUNK_ROWS):
            categories.import_assignments(db, rows)
        return added


@contextlib.contextmanager
def _staging_errors():
    """The staging file lives in the temporary folder, which may be small or full: say so."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreError(f"staging the import in the temporary folder failed ({exc}); set TMPDIR (or "
                         "SQLITE_TMPDIR) to a folder with room; nothing was written") from exc


def _pages(conn: sqlite3.Connection, select: str, size: int):
    """Rows of ``select`` (whose first column is the table's id) in pages of ``size`` by id, read
    afresh per page so the staging tables may change between pages. ``size`` may be a callable."""
    last = 0
    while True:
        n = size() if callable(size) else size
        where = " AND " if " WHERE " in select else " WHERE "
        rows = conn.execute(f"{select}{where}id > ? ORDER BY id LIMIT ?", (last, n)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _existing_prompts(db: sqlite_utils.Database, keys) -> dict[tuple[str, str], tuple[int, str]]:
    """{(dataset, source_id): (id, text)} of those ``keys`` the database has."""
    found = {}
    for key in keys:
        row = db.conn.execute("SELECT id, text FROM prompts WHERE dataset = ? AND source_id = ?", key).fetchone()
        if row is not None:
            found[key] = row
    return found


def _response_ids(db: sqlite_utils.Database, rows) -> dict[tuple, int]:
    """{(dataset, source_id, model, text_hash): response id} for the first four fields of ``rows``."""
    sql = """SELECT r.id FROM responses r JOIN prompts p ON p.id = r.prompt_id
             WHERE p.dataset = ? AND p.source_id = ? AND r.model = ? AND r.text_hash = ?"""
    return {r[:4]: db.conn.execute(sql, r[:4]).fetchone()[0] for r in rows}


def _max_ids(db: sqlite_utils.Database) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t})" for t in JOURNAL_TABLES)
    return dict(zip(JOURNAL_TABLES, db.conn.execute(sql).fetchone()))


class ImportGroup:
    """One import of one or more staged files: their rows published in short journaled
    transactions as each file is added, then one last transaction with what deleting rows could not
    undo, or, if anything failed, an undo of everything the group published.

    With the caller already inside a transaction, the steps run in it and nothing is journaled:
    the caller's transaction commits or rolls back the whole import.
    """

    def __init__(self, db: sqlite_utils.Database, on_progress: Callable[[str, int], None] | None = None):
        self.db, self.on_progress = db, on_progress or (lambda phase, rows: None)
        self.nested = db.conn.in_transaction
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.rows = FIRST_STEP_ROWS
        self.before: dict[str, int] = {}
        self.recorded = False
        self._added: list[tuple[Stage, Callable[[int], None], Callable | None]] = []

    def add(self, stage: Stage, origin: str, on_labels: Callable[[int], None],
            last: Callable[[sqlite_utils.Database], None] | None = None) -> int:
        """Check ``stage`` against the database and publish its rows; ``on_labels(n)`` is told how
        many human labels it added once the group finishes. ``last(db)``, when given, writes in the
        group's last transaction, after the labels (what an importer hangs on the responses it
        published), so it is part of the all-or-nothing import. Returns the verdicts added."""
        self._added.append((stage, on_labels, last))  # closed by the group, whatever happens
        stage.check(self.db)
        stage.check_space(self.db)
        return stage.publish_rows(self, origin)

    def finish(self) -> None:
        with self.step("labels", sum(stage.count_labels() for stage, _, _ in self._added), last=True):
            for stage, on_labels, last in self._added:
                on_labels(stage.publish_final(self.db))
                if last is not None:
                    last(self.db)

    def steps(self, phase: str, conn: sqlite3.Connection, select: str):
        """Pages of ``select`` from a staging database, each written by the loop body inside one
        short transaction; the page size adapts so a transaction lasts about PUBLISH_SECONDS. Each
        phase starts small again: a size fitted to prompts made the first page of responses (text,
        full-text index, verdicts) a transaction three times too long."""
        self.rows = FIRST_STEP_ROWS
        for rows in _pages(conn, select, lambda: self.rows):
            with self.step(phase, len(rows)):
                yield rows

    @contextlib.contextmanager
    def step(self, phase: str, rows: int = 0, last: bool = False):
        """One publishing transaction; ``last`` removes the journal in the same commit. After the
        commit, ``on_progress(phase, rows)`` and a pause that lets waiting writers in."""
        t0 = time.perf_counter()
        with write_transaction(self.db):
            self.before = _max_ids(self.db)
            yield
            if not self.nested and last:
                self.db.conn.execute("DELETE FROM import_journal WHERE import_id = ?", (self.id,))
            elif not self.nested:
                self._record(self.before, _max_ids(self.db))
        if not self.nested:
            elapsed = time.perf_counter() - t0
            self.rows = max(MIN_STEP_ROWS, min(MAX_STEP_ROWS, 2 * self.rows,
                                               int(self.rows * PUBLISH_SECONDS / max(elapsed, 1e-3))))
            time.sleep(PAUSE_SECONDS)
        self.on_progress(phase, rows)

    def _record(self, before: dict, after: dict):
        pid, host = os.getpid(), socket.gethostname()
        added = [(self.id, host, pid, t, before[t] + 1, after[t]) for t in JOURNAL_TABLES if after[t] > before[t]]
        self.db.conn.executemany(
            "INSERT INTO import_journal (import_id, host, pid, tbl, first_id, last_id) VALUES (?, ?, ?, ?, ?, ?)",
            added)
        self.recorded = self.recorded or bool(added)

    def close(self, failed: bool) -> None:
        """Undo what was published if the import failed (a failing undo is left to ``recover``),
        and delete the staging files."""
        try:
            if failed and self.recorded and not self.nested:
                undo(self.db, self.id)
        finally:
            for stage, _, _ in self._added:
                stage.close()


_GROUPS: dict[int, ImportGroup] = {}  # id(connection) -> the import group open on it


@contextlib.contextmanager
def import_group(db: sqlite_utils.Database, on_progress: Callable[[str, int], None] | None = None):
    """All imports inside the block are one import: published in short transactions as each file
    is read, finished together or undone together. Inside another group, joins it."""
    if (outer := _GROUPS.get(id(db.conn))) is not None:
        yield outer
        return
    group = _GROUPS[id(db.conn)] = ImportGroup(db, on_progress)
    ACTIVE_IMPORTS.add(group.id)
    (cache,) = db.conn.execute("PRAGMA cache_size").fetchone()
    db.conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KB}")
    failed = True
    try:
        yield group
        group.finish()
        failed = False
    finally:
        del _GROUPS[id(db.conn)]
        db.conn.execute(f"PRAGMA cache_size = {int(cache)}")  # the connection's own size again after the import
        try:
            group.close(failed)
        finally:
            ACTIVE_IMPORTS.discard(group.id)

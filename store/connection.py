"""Opening the database safely for Streamlit and for concurrent writers.

Streamlit runs each rerun on a fresh thread and SQLite connections must not cross threads, so
nothing here caches a connection globally: ``connect`` is cheap (WAL, no schema work when the
schema is current) and callers open one per thread or per command. Every write goes through
``write_transaction``, which takes the write lock up front (``BEGIN IMMEDIATE``) so two writers
queue on the busy timeout instead of failing mid-transaction with "database is locked". A writer
waiting for the lock polls every LOCK_POLL_MS, so it goes in between the short transactions a long
import publishes in (store/staging.py) instead of waiting for the whole import.
"""

import contextlib
import os
import socket
import sqlite3
import time
import urllib.parse
from pathlib import Path

import sqlite_utils

import pids
from errors import UserError
from store.schema import migrations

BUSY_TIMEOUT_S = 60.0
LOCK_POLL_MS = 5
DEFAULT_DB = "refusal_review.db"
#: The time every row is stamped with, in SQL (ISO 8601, UTC, milliseconds), as the tables' column
#: defaults write it (store/schema.py keeps its own copy: migrations never change).
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


class StoreError(UserError):
    """A problem with the database file itself (missing, read-only, disk full), said plainly."""


def default_path() -> str:
    return os.environ.get("REFUSAL_REVIEW_DB") or DEFAULT_DB


def readonly_mode() -> bool:
    """Public demos set REFUSAL_REVIEW_READONLY=1: the file is opened read-only, nothing can write."""
    return os.environ.get("REFUSAL_REVIEW_READONLY", "").strip().lower() in ("1", "true", "yes")


def connect(path: str | os.PathLike | None = None, readonly: bool | None = None) -> sqlite_utils.Database:
    """Open (creating and migrating when writable) the database at ``path``. A writable open also
    undoes any import that was killed while publishing (``recover``)."""
    path = str(path or default_path())
    readonly = readonly_mode() if readonly is None else readonly
    try:
        if readonly:
            if not Path(path).exists():
                raise StoreError(f"{path}: no such database (read-only mode does not create one)")
            conn = _open_readonly(path)
            behind = conn.execute("PRAGMA user_version").fetchone()[0] < len(migrations._migrations)
            if behind and not readonly_mode() and os.access(path, os.W_OK):
                # A read of a database written by an older version: bring its schema up to date once
                # (the reads expect the current tables), unless this app is meant never to write.
                conn.close()
                connect(path, readonly=False).conn.close()
                conn = _open_readonly(path)
        else:
            if Path(path).parent and not Path(path).parent.exists():
                raise StoreError(f"{path}: folder {Path(path).parent} does not exist")
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        db = sqlite_utils.Database(conn, execute_plugins=False)
        if not readonly:
            if db.journal_mode != "wal":
                db.enable_wal()
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(db)
            recover(db)
        return db
    except sqlite3.DatabaseError as exc:  # OperationalError, and "file is not a database"
        raise StoreError(explain(path, exc)) from exc


def _open_readonly(path: str) -> sqlite3.Connection:
    """Read-only connection. A WAL database on read-only media (a read-only mount, a CD) cannot
    create its shared-memory file, so there, and only where nobody can write, it is opened as
    immutable."""
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        if os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            raise
    conn.close()
    return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)


def explain(path: str, exc: sqlite3.Error) -> str:
    """Turn SQLite's terse errors about the file into a sentence a user can act on."""
    msg = str(exc)
    if "readonly" in msg or "read-only" in msg:
        return f"{path}: the database is read-only (file or folder permissions, or read-only mode); nothing was written"
    if "disk is full" in msg or "disk I/O" in msg:
        return f"{path}: the disk is full or failing; the last change was rolled back and nothing was lost"
    if "unable to open" in msg:
        return f"{path}: cannot open the database file ({msg})"
    if "not a database" in msg:
        return f"{path}: this file is not a SQLite database"
    return f"{path}: {msg}"


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database):
    """All-or-nothing write holding the write lock from the start (BEGIN IMMEDIATE).

    Nested use joins the outer transaction, so a store function that writes can be called on its
    own or as part of a larger import.
    """
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    try:
        _begin_immediate(conn)
    except sqlite3.OperationalError as exc:
        raise StoreError(explain(db_path(db), exc)) from exc
    try:
        yield db
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and _about_the_file(exc):
            raise StoreError(explain(db_path(db), exc)) from exc
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(explain(db_path(db), exc)) from exc


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to BUSY_TIMEOUT_S for the write lock. SQLite's own busy handler
    backs off to sleeps of 100 ms, which would let a writer miss the brief gaps between an import's
    transactions again and again; retrying every LOCK_POLL_MS catches the first gap."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    conn.execute(f"PRAGMA busy_timeout = {LOCK_POLL_MS}")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def _about_the_file(exc: sqlite3.Error) -> bool:
    """Errors that are about the database file (not the statement): said plainly to the user."""
    msg = str(exc)
    return any(word in msg for word in ("readonly", "read-only", "disk is full", "disk I/O", "unable to open"))


def db_path(db: sqlite_utils.Database) -> str:
    row = db.conn.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else ":memory:"


# -- the schema ------------------------------------------------------------------------------------
# ``PRAGMA user_version`` mirrors the number of migrations applied, so opening a current database
# costs one pragma read and the version is visible to any SQLite tool.

def migrate(db: sqlite_utils.Database) -> None:
    """Apply pending migrations; a no-op costing one pragma read when the schema is current.

    Runs under the write lock and re-checks inside it, so processes opening a fresh file at the
    same moment migrate it once.
    """
    target = len(migrations._migrations)
    if schema_version(db) == target:
        return
    with write_transaction(db):
        if schema_version(db) == target:
            return
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {len(migrations.applied(db))}")


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


# -- imports killed while publishing ---------------------------------------------------------------
# An import publishes in short transactions and journals the id ranges each added (store/staging.py);
# undoing a journal lives here because opening the database for writing is when a dead one is undone.

JOURNAL_TABLES = ("verdicts", "responses", "prompts", "judges")  # in the order an undo deletes them
ACTIVE_IMPORTS: set[str] = set()  # imports this process is publishing right now; recover leaves them alone


def undo(db: sqlite_utils.Database, import_id: str, rows: int = 2_000) -> None:
    """Delete what the import ``import_id`` published, in short transactions, verdicts first and
    judges last; each transaction shrinks the journal by what it deleted, so an undo interrupted in
    turn is finished by the next ``recover``. Kept: responses a reviewer labelled meanwhile (labels
    are never deleted) and the prompts they or a showcase hold on to."""
    order = " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(JOURNAL_TABLES))
    while True:
        with write_transaction(db):
            entry = db.conn.execute(f"SELECT id, tbl, first_id, last_id FROM import_journal WHERE import_id = ? "
                                    f"ORDER BY CASE tbl {order} END, id LIMIT 1", (import_id,)).fetchone()
            if entry is None:
                return
            entry_id, table, first, last = entry
            upto = min(last, first + rows - 1)
            for sql in _undo_statements(db, table):
                db.conn.execute(sql, (first, upto))
            if upto == last:
                db.conn.execute("DELETE FROM import_journal WHERE id = ?", (entry_id,))
            else:
                db.conn.execute("UPDATE import_journal SET first_id = ? WHERE id = ?", (upto + 1, entry_id))
            db.conn.execute("UPDATE edit_counter SET n = n + 1")  # max ids shrink: a cache keyed on them must miss


# What an import hangs on its own rows and an undo removes with them, before the rows themselves.
_UNDO_FIRST = {
    "responses": """DELETE FROM verdicts WHERE response_id BETWEEN ?1 AND ?2
                    AND response_id NOT IN (SELECT response_id FROM annotations WHERE response_id BETWEEN ?1 AND ?2)""",
    "prompts": """DELETE FROM prompt_categories WHERE prompt_id BETWEEN ?1 AND ?2
                  AND prompt_id NOT IN (SELECT prompt_id FROM responses WHERE prompt_id BETWEEN ?1 AND ?2)""",
}


def _undo_statements(db: sqlite_utils.Database, table: str) -> list[str]:
    """The deletes undoing rows ?1..?2 of ``table``: what the import hung on them, then every row
    nothing refers to any more. The referring columns are read from the schema's foreign keys, so a
    row someone used meanwhile (a label, a showcase, a moderation, whatever a later migration adds)
    keeps its row."""
    guards = [
        f"AND id NOT IN (SELECT \"{ref['from']}\" FROM \"{child}\" WHERE \"{ref['from']}\" BETWEEN ?1 AND ?2)"
        for (child,) in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for ref in db.query(f"SELECT * FROM pragma_foreign_key_list('{child}')") if ref["table"] == table]
    return [s for s in (_UNDO_FIRST.get(table),) if s] + [
        f"DELETE FROM {table} WHERE id BETWEEN ?1 AND ?2 " + " ".join(guards)]


def recover(db: sqlite_utils.Database) -> list[str]:
    """Undo imports that stopped while publishing: their process is gone (same host), or it is this
    process and the import is no longer running. Returns their ids. Called by every writable
    ``store.connect``: one query on an empty table when there is nothing to do."""
    host = socket.gethostname()
    stopped = [import_id for import_id, h, pid in db.conn.execute(
        "SELECT DISTINCT import_id, host, pid FROM import_journal").fetchall()
        if h == host and import_id not in ACTIVE_IMPORTS and (pid == os.getpid() or not pids.exists(pid))]
    for import_id in stopped:
        undo(db, import_id)
    return stopped

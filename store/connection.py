"""Opening the database safely for Streamlit and for concurrent writers.

Streamlit runs each rerun on a fresh thread and SQLite connections must not cross threads, so
nothing here caches a connection globally: ``connect`` is cheap (WAL, no schema work when the
schema is current) and callers open one per thread or per command. Every write goes through
``write_transaction``, which takes the write lock up front (``BEGIN IMMEDIATE``) so two writers
queue on the busy timeout instead of failing mid-transaction with "database is locked".
"""

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

import sqlite_utils

from errors import UserError
from store.schema import migrations

BUSY_TIMEOUT_S = 60.0
DEFAULT_DB = "refusal_review.db"


class StoreError(UserError):
    """A problem with the database file itself (missing, read-only, disk full), said plainly."""


def default_path() -> str:
    return os.environ.get("REFUSAL_REVIEW_DB") or DEFAULT_DB


def readonly_mode() -> bool:
    """Public demos set REFUSAL_REVIEW_READONLY=1: the file is opened read-only, nothing can write."""
    return os.environ.get("REFUSAL_REVIEW_READONLY", "").strip().lower() in ("1", "true", "yes")


def connect(path: str | os.PathLike | None = None, readonly: bool | None = None) -> sqlite_utils.Database:
    """Open (creating and migrating when writable) the database at ``path``."""
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
        return db
    except sqlite3.OperationalError as exc:
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
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(explain(_db_path(db), exc)) from exc
    try:
        yield db
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and _about_the_file(exc):
            raise StoreError(explain(_db_path(db), exc)) from exc
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(explain(_db_path(db), exc)) from exc


def _about_the_file(exc: sqlite3.Error) -> bool:
    """Errors that are about the database file (not the statement): said plainly to the user."""
    msg = str(exc)
    return any(word in msg for word in ("readonly", "read-only", "disk is full", "disk I/O", "unable to open"))


def _db_path(db: sqlite_utils.Database) -> str:
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

"""Per-browser-session state: which database, who is labelling, and a connection for this thread.

Streamlit reruns a page on a new thread each time, and a sqlite3 connection must stay on the
thread that made it, so connections are kept per thread (and per path); a rerun on a new thread
opens its own, which costs well under a millisecond once the schema is current.
"""

import threading

import streamlit as st

import store

_local = threading.local()


def db_path() -> str:
    return st.session_state.get("db_path") or store.default_path()


def db():
    path = db_path()
    cache = _local.__dict__.setdefault("connections", {})
    if path not in cache:
        cache[path] = store.connect(path)
    return cache[path]


def cache_key(labels: bool = True) -> tuple:
    """Key for caches of reads and analyses: this database's path and its ``store.reads.change_token``,
    so any write to the data invalidates them by itself. ``labels=False`` leaves the human labels
    out, for reads that do not depend on them: a label press then costs those reads nothing, however
    large the database (bench/scale_bench.py)."""
    token = store.reads.change_token(db())
    return db_path(), token if labels else token[:3] + token[4:]


def reviewer() -> str | None:
    """The name labels are recorded under, or None until the user has given one."""
    name = (st.session_state.get("reviewer") or "").strip()
    return name or None

"""Per-browser-session state: which database, who is labelling, and a connection for this thread.

Which database: one of the operator's, by name (``database``); a typed path (``db_path``) only in
local mode (ui/deployment.py), so a visitor never names a file.

Streamlit reruns a page on a new thread each time, and a sqlite3 connection must stay on the
thread that made it, so connections are kept per thread (and per path); a rerun on a new thread
opens its own, which costs well under a millisecond once the schema is current.
"""

import threading

import streamlit as st

import store
from store import users
from ui import deployment, display

_local = threading.local()


def db_path() -> str:
    return deployment.database_path(st.session_state.get("database"), st.session_state.get("db_path"))


def db_label() -> str:
    """What the page calls the open database: its name, or in local mode its path."""
    return db_path() if deployment.local_mode() else deployment.database_name(st.session_state.get("database"))


def database_picker() -> None:
    """The sidebar's database choice: the operator's databases by name, or in local mode a path."""
    if deployment.local_mode():
        st.session_state.setdefault("db_path", store.default_path())
        st.text_input("Database file", key="db_path",
                      help="Local mode: any SQLite file on this machine, created if missing. A served app "
                           "offers only the databases its operator listed.")
        st.caption(":material/computer: Local mode: for one person on this machine.")
        return
    names = list(deployment.databases())
    if st.session_state.get("database") not in names:
        st.session_state["database"] = names[0]
    if len(names) > 1:
        st.selectbox("Database", names, key="database", help="The databases this app's operator set up.")
    else:
        st.caption(f"Database: **{display.escape_markdown(names[0])}**")
    why = deployment.why_not_local()
    if why:
        st.caption(f"Local mode is off: {display.escape_markdown(why)}.")


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
    return db_path(), token if labels else store.reads.without_labels(token)


def reviewer() -> str | None:
    """Who is using the app, or None until they signed in (sign-in configured) or typed a name.

    With sign-in, the signed-in user's email (or name when the provider gives none). The name is
    cleaned and written as the registered user it names (``users.resolve``: "Alice " is alice).
    Typed without sign-in, outside local mode, it is a ``users.Claim``: the store lets it label but
    never act as an admin."""
    if deployment.signin_configured():
        raw = (st.user.get("email") or st.user.get("name")) if st.user.is_logged_in else None
    else:
        raw = st.session_state.get("reviewer")
    name = users.clean_name(raw)
    if not name:
        return None
    try:
        name = users.resolve(db(), name)
    except store.StoreError:
        pass  # app.py reports the unusable database on the page itself
    if deployment.signin_configured() or deployment.local_mode():
        return name
    return users.Claim(name)

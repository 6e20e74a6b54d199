"""How this app is deployed: which databases it may open, and whether it runs for one person on
this machine. Set by the operator in the environment, never by a visitor.

- ``REFUSAL_REVIEW_DATABASES``: the databases the app offers, chosen by name in the sidebar: a
  folder (every ``*.db`` file directly in it) or a list of files separated by ``os.pathsep``
  (``:`` on Linux and macOS). A database's name is its file name without ``.db``.
- ``REFUSAL_REVIEW_DB``: the database opened first; with no list set, the only one.
- ``REFUSAL_REVIEW_LOCAL=1``: a single-user run on this machine. Only then does the sidebar take a
  typed path (any SQLite file, created if missing) and does a typed name count as the owner of
  the database (see ui/auth.py). It is honoured only while nobody else can be using the app: no
  sign-in is configured (sign-in means a team), the app is not read-only (a public demo), and the
  server listens on a loopback address only (``--server.address 127.0.0.1``).

A visitor of a served app therefore picks among the operator's files by name and can neither type
a path (``../``, another team's file) nor create a file. Read-only mode opens only listed files
(and never creates one: see store.connection).
"""

import ipaddress
import os
from pathlib import Path

import streamlit as st

import store

LOCAL_ENV, LIST_ENV = "REFUSAL_REVIEW_LOCAL", "REFUSAL_REVIEW_DATABASES"


def signin_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (OpenID Connect sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def _loopback_only() -> bool:
    address = (st.get_option("server.address") or "").strip()
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # unset (every interface) or a host name
        return False


def local_requested() -> bool:
    return os.environ.get(LOCAL_ENV, "").strip().lower() in ("1", "true", "yes")


def local_mode() -> bool:
    """A single-user run: asked for, and nobody else can reach or share it (see the module docstring)."""
    return local_requested() and not signin_configured() and not store.readonly_mode() and _loopback_only()


def why_not_local() -> str | None:
    """Why local mode was asked for but is off, or None (asked and on, or not asked)."""
    if not local_requested() or local_mode():
        return None
    if signin_configured():
        return "sign-in is configured, so this app serves a team"
    if store.readonly_mode():
        return "the app is in read-only mode"
    return "the server listens on other addresses than this machine's (start it with --server.address 127.0.0.1)"


def databases() -> dict[str, str]:
    """The operator's databases, name -> path, the default first."""
    default = store.default_path()
    listed = os.environ.get(LIST_ENV, "").strip()
    paths = [default] if os.environ.get("REFUSAL_REVIEW_DB") or not listed else []
    if listed and Path(listed).is_dir():
        paths += sorted(str(p) for p in Path(listed).glob("*.db") if p.is_file())
    elif listed:
        paths += [p for p in listed.split(os.pathsep) if p.strip()]
    named = {}
    paths = paths or [default]  # an empty folder: the default, so the app can say what is wrong with it
    for path in paths:
        name = Path(path).name.removesuffix(".db") or path
        if name in named and os.path.abspath(named[name]) != os.path.abspath(path):
            name = f"{name} ({Path(path).resolve().parent.name})"
        named.setdefault(name, path)
    return named


def database_path(name: str | None, typed: str | None) -> str:
    """The file to open: in local mode the typed path; otherwise the listed database of that name,
    or the default when the name is not on the list (whatever a session holds)."""
    if local_mode() and (typed or "").strip():
        return typed.strip()
    listed = databases()
    return listed.get(name or "") or next(iter(listed.values()))


def database_name(name: str | None) -> str:
    """The name shown for the open database (the default's when ``name`` is not listed)."""
    listed = databases()
    return name if name in listed else next(iter(listed))

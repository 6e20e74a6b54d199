"""Who is using the app, and what they may do.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` identity comes from OpenID Connect
(``st.login``): the user is whoever signed in (their email, or their name when the provider gives
no email), and nobody can type another name. Without it, the sidebar asks for a name, as a small
team on one machine expects. Either way the name lands in ``st.session_state["reviewer"]`` so
``ui.session.reviewer()`` and every page agree on it.

The checks here only decide what to show (which buttons are enabled, which message to give); the
store enforces roles itself (``store.users``), and ``attempt`` turns its refusals into a message
instead of a traceback.
"""

from collections.abc import Mapping

import streamlit as st

import store
from errors import UserError
from store import users
from ui import session


def configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (OpenID Connect sign-in)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def _providers() -> list[str | None]:
    """[auth] with client_id itself is one unnamed provider; [auth.NAME] sections are named ones."""
    section = st.secrets["auth"]
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named if named and "client_id" not in section else [None]


def current_user() -> str | None:
    """The signed-in user's email (or name), or the typed name; None until there is one."""
    if configured():
        if not st.user.is_logged_in:
            return None
        return str(st.user.get("email") or st.user.get("name") or "").strip() or None
    return session.reviewer()


def sidebar() -> None:
    """The identity block of the sidebar: sign in / out, or the typed name; and the user's role."""
    if configured():
        user = current_user()
        st.session_state["reviewer"] = user or ""  # no widget holds this key, so it cannot be typed over
        if user:
            st.caption(f"Signed in as **{user}**")
            st.button("Sign out", on_click=st.logout, icon=":material/logout:")
        else:
            for provider in _providers():
                st.button(f"Sign in{f' with {provider}' if provider else ''}", on_click=st.login,
                          args=(provider,) if provider else (), icon=":material/login:")
    else:
        st.text_input("Who is labelling", key="reviewer", placeholder="your name",
                      help="Every label you give is recorded under this name.")
    user = current_user()
    if user:
        try:
            db = session.db()
        except store.StoreError:
            db = None  # app.py reports the unusable database on the page itself
        if db is not None:
            new = users.registered_role(db, user) is None
            st.caption(f"Role: **{users.role_of(db, user)}**" + (" (from your first change)" if new else ""))
    if store.readonly_mode():
        st.info("Read-only mode: nothing can be written.", icon=":material/lock:")


def role() -> str:
    return users.role_of(session.db(), current_user())


def why_not(needed: str) -> str | None:
    """Why the current user cannot make a write that needs role ``needed``, or None when they can."""
    if store.readonly_mode():
        return "This app is in read-only mode: nothing can be changed here."
    user = current_user()
    if not user:
        return "Sign in (or type your name in the sidebar) to make changes."
    have = users.role_of(session.db(), user)
    if not users.can(session.db(), user, needed):
        return f"You ({user}) have the {have} role; this needs the {needed} role. Ask an admin."
    return None


def attempt(write, *args, **kwargs) -> tuple[bool, object]:
    """Run a store write: (True, its result), or on refusal (role, read-only database, bad input)
    show the reason and return (False, None)."""
    try:
        return True, write(*args, **kwargs)
    except UserError as exc:
        st.error(str(exc), icon=":material/block:")
        return False, None


def attempt_later(where: str, write, *args, **kwargs) -> None:
    """``attempt`` for an on_click/on_change callback, called as ``write(db, *args)`` with this
    thread's connection (a callback runs on the next rerun's thread, so it must not be handed a
    connection). A refusal is kept under ``where`` and shown by ``show_refusal(where)`` at that spot
    of the page. Callbacks act on what the user saw, so a click on a page drawn before a role
    change still reaches the store, which refuses it."""
    try:
        write(session.db(), *args, **kwargs)
    except UserError as exc:
        st.session_state[f"refused-{where}"] = str(exc)


def show_refusal(where: str) -> bool:
    """Show (once) the refusal ``attempt_later`` kept under ``where``; True when there was one."""
    message = st.session_state.pop(f"refused-{where}", None)
    if message:
        st.error(message, icon=":material/block:")
    return message is not None

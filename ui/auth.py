"""Who is using the app, and what they may do.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` identity comes from OpenID Connect
(``st.login``): the user is whoever signed in (their email, or their name when the provider gives
no email), and nobody can type another name. Without it, the sidebar asks for a name, as a small
team on one machine expects; that name is a claim, not an identity (anyone can type anyone's
name), so it may label but admin actions are refused (``store.users.Claim``), unless the app runs
in local mode for one person (ui/deployment.py). ``ui.session.reviewer()`` reads either, so every
page agrees on who it is.

The checks here only decide what to show (which buttons are enabled, which message to give); the
store enforces roles itself (``store.users``), and ``attempt`` turns its refusals into a message
instead of a traceback.
"""

from collections.abc import Mapping

import streamlit as st

import store
from errors import UserError
from store import users
from ui import deployment, display, session

CLAIM_NOTE = ("A typed name is a claim, not a sign-in: anyone can type any name. Your labels are recorded "
              "under it; admin actions need sign-in.")


def who_becomes_admin() -> str:
    """The store's first-admin rule (store.users) in the words that fit how this app is run."""
    if configured():
        return "The first person to sign in and make a change in a new database becomes its admin."
    if deployment.local_mode():
        return "In this single-user run your name acts as the admin."
    return ("A typed name never becomes admin (anyone could type it): sign-in makes the first person to change "
            "something the admin, or the database's owner runs `python cli.py users set-role NAME admin`.")


def configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (OpenID Connect sign-in)."""
    return deployment.signin_configured()


def _providers() -> list[str | None]:
    """[auth] with client_id itself is one unnamed provider; [auth.NAME] sections are named ones."""
    section = st.secrets["auth"]
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named if named and "client_id" not in section else [None]


def current_user() -> str | None:
    """The signed-in user's email (or name), or the typed name (a ``users.Claim`` outside local
    mode); None until there is one (see ``ui.session.reviewer``)."""
    return session.reviewer()


def sidebar() -> None:
    """The identity block of the sidebar: sign in / out, or the typed name; and the user's role."""
    if configured():
        user = current_user()
        if user:
            st.caption(f"Signed in as **{display.escape_markdown(user)}**")
            st.button("Sign out", on_click=st.logout, icon=":material/logout:")
        else:
            for provider in _providers():
                st.button(f"Sign in{f' with {provider}' if provider else ''}", on_click=st.login,
                          args=(provider,) if provider else (), icon=":material/login:")
    else:
        st.text_input("Who is labelling", key="reviewer", placeholder="your name",
                      help="Every label you give is recorded under this name.")
        if not deployment.local_mode():
            st.caption(CLAIM_NOTE)
    user = current_user()
    if user:
        try:
            db = session.db()
        except store.StoreError:
            db = None  # app.py reports the unusable database on the page itself
        if db is not None:
            _name_notes(db, user)
            new = users.registered_role(db, user) is None
            st.caption(f"Role: **{users.role_of(db, user)}**" + (" (registered with your first change)" if new else ""))
    if store.readonly_mode():
        st.info("Read-only mode: nothing can be written.", icon=":material/lock:")


def _name_notes(db, user: str) -> None:
    """Say when the name given is written differently, or reads like someone else's."""
    typed = str(st.session_state.get("reviewer") or "").strip()
    if typed and typed != user:
        st.caption(f"Recorded as **{display.escape_markdown(user)}**.")
    like = users.registered_like(db, user)
    if like is not None and like != user:
        st.warning(f"{display.quote(user)} looks like the registered user {display.quote(like)}: it cannot be "
                   "registered. Use that name if it is yours, or one that reads differently.", icon=":material/warning:")


def role() -> str:
    return users.role_of(session.db(), current_user())


def why_not(needed: str) -> str | None:
    """Why the current user cannot make a write that needs role ``needed``, or None when they can."""
    if store.readonly_mode():
        return "This app is in read-only mode: nothing can be changed here."
    user = current_user()
    if not user:
        return "Sign in (or type your name in the sidebar) to make changes."
    if needed == "admin" and isinstance(user, users.Claim):
        return ("A typed name is a claim, not an identity: admin actions need a signed-in admin, or "
                "`python cli.py users set-role` run by the database's owner.")
    have = users.role_of(session.db(), user)
    if not users.can(session.db(), user, needed):
        return f"You ({display.escape_markdown(user)}) have the {have} role; this needs the {needed} role. Ask an admin."
    return None


def explain_labelling() -> str | None:
    """Say on the page why a label cannot be recorded yet: no name typed (pointing at the sidebar's
    one name field, shared by every labelling page), or a role or read-only refusal. Returns the
    refusal (None when labelling is allowed) for the page to disable its buttons with."""
    blocked = why_not("reviewer")
    if current_user() is None and not configured():
        st.info("Type your name under **Who is labelling** in the sidebar to label; this browser keeps it.",
                icon=":material/badge:")
    elif blocked:
        st.info(blocked, icon=":material/lock:")
    return blocked


def attempt(write, *args, **kwargs) -> tuple[bool, object]:
    """Run a store write: (True, its result), or on refusal (role, read-only database, bad input)
    show the reason and return (False, None)."""
    try:
        return True, write(*args, **kwargs)
    except UserError as exc:
        st.error(display.escape_markdown(exc), icon=":material/block:")
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
        st.error(display.escape_markdown(message), icon=":material/block:")
    return message is not None

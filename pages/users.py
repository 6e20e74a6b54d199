"""Team members and their roles. Everyone sees the list; only an admin changes it."""

import pandas as pd
import streamlit as st

from store import names, users
from ui import auth, cached, session, shell

shell.require_shell()

db = session.db()
me = auth.current_user()
blocked = auth.why_not("admin")

st.title("Users")
st.markdown("**admin**: roles, categories, deleting showcases · **reviewer**: labels, category assignments, "
            "showcase items · **viewer**: sees everything, changes nothing. " + auth.who_becomes_admin())
listed = users.list_users(db)
if listed:
    st.dataframe(pd.DataFrame(listed), hide_index=True, width="stretch")
else:
    st.info("Nobody has made a change yet. " + auth.who_becomes_admin())
signup = users.self_signup(db)
st.caption(f"Self-signup is **{'on' if signup else 'off'}**: " + (
    "a new name becomes a reviewer on their first label." if signup
    else "a new name is a viewer until an admin gives them a role."))
if blocked:
    st.caption(blocked)
    st.stop()

with st.form("set-role"):
    columns = st.columns([3, 2, 1], vertical_alignment="bottom")
    name = columns[0].text_input("Name or email", placeholder="as they sign in or type it")
    role = columns[1].selectbox("Role", users.ROLES, index=1)
    if columns[2].form_submit_button("Set role"):
        if auth.attempt(users.set_role, db, name, role, by=me)[0]:
            st.rerun()
if st.toggle("Self-signup: new names may label", value=signup) != signup:
    if auth.attempt(users.set_self_signup, db, not signup, by=me)[0]:
        st.rerun()

st.subheader("Display names")
st.caption("What judges and models are called on every page (stored names, with their hashes, never change; "
           "exports and the command line keep them). Leave a name empty to go back to the default.")
shown = cached.names()
kind = st.segmented_control("Kind", names.KINDS, default="judge", required=True, key="names_kind")
with st.form("display-name"):
    columns = st.columns([3, 3, 1], vertical_alignment="bottom")
    stored = columns[0].selectbox("Stored name", list(shown[kind]) or [""],
                                  format_func=lambda n: f"{n} (shown as {cached.shown_as(kind)(n)})" if n else "none")
    display = columns[1].text_input("Display name", max_chars=names.MAX_LENGTH)
    if columns[2].form_submit_button("Save") and stored:
        if auth.attempt(names.set_display_name, db, kind, stored, display, by=me)[0]:
            st.rerun()

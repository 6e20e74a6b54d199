"""Refusal Review: entry point. Navigation and the sidebar (database, who is labelling); nothing else."""

import os

import streamlit as st

import store
from demo import build_demo
from ui import auth, display, layout, persist, session, shell
from ui.review_state import PAGE_KEYS

st.set_page_config(page_title="Refusal Review", page_icon=":material/rule:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page("pages/browse.py", title="Browse", icon=":material/table_rows:", url_path="browse"),
    st.Page("pages/prompt_review.py", title="Prompt review", icon=":material/fact_check:", url_path="prompt_review"),
    st.Page("pages/agreement.py", title="Agreement", icon=":material/balance:", url_path="agreement"),
    st.Page("pages/results.py", title="Results", icon=":material/leaderboard:", url_path="results"),
    st.Page("pages/categories.py", title="Categories", icon=":material/category:", url_path="categories"),
    st.Page("pages/showcase.py", title="Showcases", icon=":material/slideshow:", url_path="showcase"),
    st.Page("pages/import.py", title="Import", icon=":material/upload_file:", url_path="import"),
    st.Page("pages/export.py", title="Export", icon=":material/download:", url_path="export"),
    st.Page("pages/run.py", title="Run", icon=":material/play_circle:", url_path="run"),
    st.Page("pages/build.py", title="Build", icon=":material/construction:", url_path="build"),
    st.Page("pages/users.py", title="Users", icon=":material/group:", url_path="users"),
]
# At the top: the sidebar is left to the filter and who is labelling (.streamlit/config.toml hides
# Streamlit's own page list, which a fresh server would otherwise flash).
page = st.navigation(pages, position="top")
layout.app()

signed_in = auth.configured()  # with sign-in the name comes from the provider, never from a cookie
persist.restore("reviewer" if not signed_in else "_no_name_kept", PAGE_KEYS)  # this browser's name and display
with st.sidebar:
    session.database_picker()  # the operator's databases by name; a typed path only in local mode
    auth.sidebar()  # sign-in (OpenID Connect when [auth] is configured) or a typed name; role; read-only notice
    persist.save(None if signed_in else st.session_state.get("reviewer"), PAGE_KEYS)



@st.cache_resource(show_spinner="Building the demo database…")
def build_demo_once(path: str) -> None:
    """The first start with no database named builds the demo there, so a fresh offline install
    opens on content rather than an empty page (once per server, whoever arrives first)."""
    if not os.path.exists(path):
        build_demo(store.connect(path))


try:
    if session.db_path() == store.connection.DEFAULT_DB and not store.readonly_mode():
        build_demo_once(os.path.abspath(session.db_path()))
    session.db()
except store.StoreError as exc:
    st.error(display.escape_markdown(exc))
    st.stop()
st.session_state[shell.CURRENT_PAGE] = page.url_path or "overview"
page.run()

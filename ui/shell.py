"""Make sure the app shell (app.py: navigation, sidebar, page config) wraps the page.

Streamlit runs the very first requests of a fresh server in its legacy multipage mode whenever a
folder named ``pages/`` sits beside the main script: a first visit straight to ``/review?prompt=..``
then runs ``pages/review.py`` alone, without app.py's navigation, sidebar or wide layout. A page
calls ``require_shell()`` first; in that case it switches Streamlit to ``st.navigation`` mode (what
app.py's first run would have done) and reruns, so the deep link lands in the real app.

Streamlit's mode flag is global, so it cannot say how *this* run started: when several people
open links to a fresh server at once, one session leaves legacy mode while another's run has
already started in it. A run is recognised as legacy by its own session's page list instead: the
legacy navigation lists the main script (app.py) as a page beside the ``pages/`` files, app.py's
``st.navigation`` never does.
"""

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

CURRENT_PAGE = "_current_page"  # the url path of the page the latest full run drew (app.py sets it)


def _legacy_run() -> bool:
    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    main = Path(ctx.pages_manager.main_script_path).resolve()
    pages = ctx.pages_manager.get_pages().values()
    return len(pages) > 1 and any(p.get("script_path") and Path(p["script_path"]).resolve() == main for p in pages)


def require_shell() -> None:
    if PagesManager.uses_pages_directory or _legacy_run():
        PagesManager.uses_pages_directory = False
        st.rerun()

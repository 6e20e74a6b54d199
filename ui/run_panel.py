"""What every page that starts runs draws (Run, Build): the endpoint inputs, starting a run on its
own thread (runs.background), and the progress panel with its Cancel button.

An API key typed here stays in this browser session's memory and is handed to the client only; it
is never written to the database.
"""

import streamlit as st

from errors import UserError
from runs import Endpoint, Settings
from runs.background import BackgroundRun
from ui import display, session
from ui.shell import CURRENT_PAGE


def endpoint_inputs(prefix: str) -> tuple[Endpoint, Settings]:
    """Base URL and key source. A typed key lives in session_state only (this browser session)."""
    a, b = st.columns(2)
    base_url = a.text_input("Base URL", key=f"{prefix}_base_url", placeholder="https://api.openai.com/v1",
                            help="Any OpenAI-compatible endpoint; empty means OpenAI.")
    env = b.text_input("Key from environment variable", value="OPENAI_API_KEY", key=f"{prefix}_key_env")
    typed = st.text_input("…or type a key (kept for this session only, never stored)", type="password",
                          key=f"{prefix}_key")
    c, d = st.columns(2)
    concurrency = c.number_input("Concurrency", 1, 256, 16, key=f"{prefix}_concurrency")
    rpm = d.number_input("Requests per minute (0 = no limit)", 0, 100_000, 0, key=f"{prefix}_rpm")
    return (Endpoint(base_url.strip() or None, typed or None, env.strip() or "OPENAI_API_KEY"),
            Settings(concurrency=int(concurrency), rpm=float(rpm) or None))


def start(job_key: str, label: str, work) -> None:
    """Start ``work(db, on_progress, cancel)`` on its own thread and redraw the page."""
    st.session_state[job_key] = BackgroundRun(session.db_path(), label, work)
    st.rerun()


def busy(job_key: str) -> bool:
    job: BackgroundRun | None = st.session_state.get(job_key)
    return job is not None and job.running


def progress_panel(job_key: str, cancel_key: str) -> None:
    """The run under ``job_key``: progress and Cancel while it runs (redrawn twice a second), then
    how it ended. A finished run redraws the whole page once, so its buttons and tables update."""
    running = busy(job_key)
    page = st.session_state.get(CURRENT_PAGE)

    @st.fragment(run_every=0.5 if running else None)
    def panel():
        current: BackgroundRun | None = st.session_state.get(job_key)
        # A fragment polling on a timer can outlive the page that drew it: its banner belongs to
        # that page only (app.py records the page each full run is on).
        if current is None or st.session_state.get(CURRENT_PAGE) != page:
            return
        progress = current.progress
        label = display.escape_markdown(current.label)  # it names the user's category or dataset
        if current.running:
            if progress is None:
                st.progress(0.0, text=f"{label}: starting (finding the items, learning what the endpoint accepts)")
            else:
                st.progress(progress.finished / progress.total if progress.total else 0.0,
                            text=f"{label}: {progress.finished:,} of {progress.total:,} · {progress.rate:.1f}/s · "
                                 f"{progress.errors} errors · {progress.prompt_tokens + progress.completion_tokens:,} "
                                 "tokens" + (f" · {display.escape_markdown(progress.message)}"
                                             if progress.message else ""))
            if st.button("Cancel", icon=":material/stop:", key=cancel_key):
                current.cancel.set()
            return
        if isinstance(current.error, UserError):
            st.error(f"{label} failed: {display.escape_markdown(current.error)}", icon=":material/error:")
        elif current.error is not None:
            st.exception(current.error)  # a bug: shown as one
        elif progress is not None:
            message = (f"{label} {progress.status}: {progress.done:,} done, {progress.errors} errors, "
                       f"{progress.cached} from cache, {progress.prompt_tokens + progress.completion_tokens:,} tokens")
            (st.error if progress.status == "failed" else st.success)(
                message + (f" ({display.escape_markdown(progress.message)})" if progress.message else ""))
        if running:  # the run ended while this fragment was polling: redraw the page (buttons, tables)
            st.rerun()

    panel()

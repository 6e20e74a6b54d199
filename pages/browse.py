"""Browse: the current review filter as a paged table, one row per response. Clicking a row opens
its prompt on the Review page. Only the visible page is read from the database."""

import streamlit as st

from ui import cached, filters, session, shell
from ui.review_state import ReviewState

shell.require_shell()
ss = st.session_state
progress_slot = st.sidebar.container()
selection = filters.sidebar("browse")
filters.keep_state("browse", ("br_size", "br_page"))
filters.progress(selection, progress_slot)

st.title("Browse")
total = cached.progress(selection, session.reviewer()).responses
with st.container(horizontal=True, vertical_alignment="bottom"):
    size = st.selectbox("Rows per page", (25, 50, 100, 200), key="br_size", width=140)
    pages = max(1, -(-total // size))
    if ss.get("br_page", 1) > pages:
        ss.br_page = 1
    number = st.number_input(f"Page (of {pages:,})", 1, pages, key="br_page", width=140)
    st.markdown(f"{total:,} responses in this filter")

frame = cached.browse_page(selection, (number - 1) * size, size)
if frame.empty:
    st.info("Nothing in this filter.", icon=":material/filter_alt_off:")
    st.stop()
# Tall enough for the whole page of rows (up to 50) so a page never scrolls inside the table.
event = st.dataframe(
    frame, key=f"br_table_{number}_{size}", on_select="rerun", selection_mode="single-row", hide_index=True,
    width="stretch", height=min(len(frame), 50) * 35 + 38,
    column_order=("source_id", "dataset", "category", "prompt", "model", "judges", "humans", "agreement"),
    column_config={"source_id": "prompt id", "prompt": st.column_config.TextColumn("prompt", width="large"),
                   "humans": "human labels"},
)
if event.selection.rows:
    row = frame.iloc[event.selection.rows[0]]
    ReviewState.get().open(int(row["prompt_id"]), int(row["response_id"]))
    st.switch_page("pages/review.py")
st.caption("Click a row to open it for review.")

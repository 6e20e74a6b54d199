"""Downloads: the same export files as ``python cli.py export``, built only when asked for."""

from pathlib import Path

import streamlit as st

from exports import files as export
from store.selection import Selection
from ui import cached, filters, session, shell
from words import count

shell.require_shell()

db = session.db()
selection = filters.sidebar("export")

st.title("Export")
st.markdown(
    "- **CSV** / **Parquet**: one row per response, with `verdict:<judge>`, `label:<annotator>` columns. "
    "CSV cells that would run as spreadsheet formulas start with an apostrophe.\n"
    "- **JSONL**: one object per response with verdicts, labels, tags, comments and final labels nested; "
    "`python cli.py import refusal-review FILE` reads it back into another database.\n"
    "- **CoCoNot-style JSONL**: `id, category, subcategory, prompt, response` plus labels; "
    "the team's own categories become `category`/`subcategory`.")
names = {"csv": "CSV", "jsonl": "JSONL", "parquet": "Parquet", "coconot": "CoCoNot-style JSONL"}
fmt = st.radio("Format", export.FORMATS, format_func=names.get, horizontal=True)
history = st.checkbox("Include the full label history", disabled=fmt == "coconot",
                      help="Every label row ever written (changes, undos), not only each reviewer's current label.")
in_view = cached.progress(selection, session.reviewer())
filtered = selection != Selection() and st.toggle(
    f"Only the sidebar filter ({count(in_view.responses, 'response')} to {count(in_view.items, 'prompt')})",
    value=True, help="Off: everything in the database.")
chosen = selection if filtered else Selection()
base = Path(session.db_path()).stem or "refusal_review"
if st.button("Prepare the download", icon=":material/download:", type="primary"):
    with st.spinner("Reading the database…"):
        st.session_state["export-files"] = (fmt, chosen, export.render(db, fmt, history and fmt != "coconot", chosen))
prepared = st.session_state.get("export-files")
if prepared and prepared[:2] == (fmt, chosen):
    for part, data in prepared[2].items():
        name = export.file_name(f"{base}-{fmt}", fmt, part).name
        st.download_button(f"Download {name} ({len(data) / 1024:,.0f} KB)", data, file_name=name,
                           mime=export.MIME[fmt], key=f"download-{part}", icon=":material/file_download:")

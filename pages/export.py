"""Downloads: the same export files as ``python cli.py export``, built only when asked for."""

from pathlib import Path

import streamlit as st

from exports import files as export
from ui import session, shell

shell.require_shell()

db = session.db()

st.title("Export")
st.markdown(
    "- **CSV** / **Parquet**: one row per response, with `verdict:<judge>`, `label:<annotator>` columns. "
    "CSV cells that would run as spreadsheet formulas start with an apostrophe.\n"
    "- **JSONL**: one object per response with verdicts and labels nested; "
    "`python cli.py import refusal-review FILE` reads it back into another database.\n"
    "- **CoCoNot-style JSONL**: `id, category, subcategory, prompt, response` plus labels; "
    "the team's own categories become `category`/`subcategory`.")
names = {"csv": "CSV", "jsonl": "JSONL", "parquet": "Parquet", "coconot": "CoCoNot-style JSONL"}
fmt = st.radio("Format", export.FORMATS, format_func=names.get, horizontal=True)
history = st.checkbox("Include the full label history", disabled=fmt == "coconot",
                      help="Every label row ever written (changes, undos), not only each reviewer's current label.")
base = Path(session.db_path()).stem or "refusal_review"
if st.button("Prepare the download", icon=":material/download:", type="primary"):
    with st.spinner("Reading the database…"):
        st.session_state["export-files"] = (fmt, export.render(db, fmt, history and fmt != "coconot"))
prepared = st.session_state.get("export-files")
if prepared and prepared[0] == fmt:
    for part, data in prepared[1].items():
        name = export.file_name(f"{base}-{fmt}", fmt, part).name
        st.download_button(f"Download {name} ({len(data) / 1024:,.0f} KB)", data, file_name=name,
                           mime=export.MIME[fmt], key=f"download-{part}", icon=":material/file_download:")

"""First page: what is in the database."""

import pandas as pd
import streamlit as st

import store
from ui import cached, display, session, shell

shell.require_shell()
db = session.db()
figures = store.reads.stats(db)

st.title("Refusal Review")
if store.reads.is_demo(db):
    st.info("This is the built-in **demo database**: made-up prompts and responses written to show the app. "
            "Import your own benchmark files with `python cli.py import ...`.", icon=":material/science:")

cols = st.columns(4)
for col, key in zip(cols, ("prompts", "responses", "verdicts", "annotations")):
    col.metric(key.capitalize(), f"{figures[key]:,}")

st.subheader("Datasets")
if figures["datasets"]:
    st.dataframe(
        pd.DataFrame([{"dataset": name, **counts} for name, counts in figures["datasets"].items()]),
        hide_index=True, width="stretch",
    )
else:
    st.write("No prompts yet. Import a benchmark: `python cli.py import coconot coconot_eval.jsonl`.")
st.caption(display.escape_markdown(
    f"Database {session.db_label()} · schema version {figures['schema_version']} · "
    f"judges: {', '.join(map(cached.shown_as('judge'), figures['judges'])) or 'none'} · "
    f"models: {', '.join(map(cached.shown_as('model'), figures['models'])) or 'none'}"))

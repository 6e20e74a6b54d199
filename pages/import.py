"""Import in the browser: an upload box for every kind ``python cli.py import`` reads, a look at the
first rows, the column mapping for generic tables, and the same importers with the same errors
(``sources.preview`` and ``sources.import_as``), so a reviewer never needs a shell.

Reviewers and admins only: the page says why to anyone else, and ``sources.import_as`` checks the
role again inside the import's own transaction. Files are kept in memory by Streamlit's upload box
and written to a temporary folder only while this run reads them; the size limit is Streamlit's
``server.maxUploadSize`` (.streamlit/config.toml), which the upload box enforces in the browser and
on the server, and which this page states and checks again.
"""

import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import sources
from errors import UserError
from sources import tabular
from sources.readers import read_table
from store import reads
from ui import auth, session, shell

shell.require_shell()

ss = st.session_state
db = session.db()
LIMIT_MB = int(st.get_option("server.maxUploadSize"))
SETS = {"coconot_set": {"coconot": ["original", "contrast", "pref"], "open-instruct": ["original", "contrast"]},
        "orbench_set": {"orbench": ["80k", "hard-1k", "toxic"]}}

st.title("Import")
blocked = auth.why_not("reviewer")
if blocked:
    st.info(blocked + " Importing needs the reviewer or admin role.", icon=":material/lock:")
    st.stop()

kind = st.selectbox("Kind of file", list(sources.KINDS), key="im_kind",
                    format_func=lambda k: f"{k}: {sources.KINDS[k].about}")
spec = sources.KINDS[kind]
upload = st.file_uploader(f"The {kind} file ({', '.join('.' + s for s in spec.suffixes)}, up to {LIMIT_MB} MB)",
                          type=list(spec.suffixes), key=f"im_file_{kind}",
                          help="The limit is Streamlit's server.maxUploadSize in .streamlit/config.toml.")
if upload is None:
    st.caption("The same importers as `python cli.py import KIND FILE`: a bad row stops the whole file, with the "
               "file, line and field named, and nothing is written.")
    st.stop()
if upload.size > LIMIT_MB * 2**20:
    st.error(f"{upload.name} is {upload.size / 2**20:,.1f} MB; the limit is {LIMIT_MB} MB.")
    st.stop()


def options_for(path: Path) -> dict:
    """The importer's options (all but the column mapping), from widgets for the ones this kind takes."""
    chosen = {}
    plain = [a for a in spec.options if a != "mapping"]
    for argument, column in zip(plain, st.columns(max(len(plain), 1))):
        if argument in SETS:
            choices = SETS[argument][kind]
            chosen[argument] = column.selectbox("Set", ["", *choices], key=f"im_{argument}_{kind}",
                                                format_func=lambda v: v or "guess from the file name") or None
        elif argument == "model":
            chosen["model"] = column.text_input(
                "Model that wrote the responses", key=f"im_model_{kind}",
                placeholder="or map a model column below" if kind == "generic" else "").strip() or None
        elif argument == "dataset":
            chosen["dataset"] = column.text_input(
                "Dataset", value=path.stem if kind == "generic" else "", key=f"im_dataset_{kind}_{upload.file_id}",
                placeholder="" if kind == "generic" else "the file's own (task or description)").strip() or None
    return chosen


def mapping_for(path: Path) -> dict:
    """Generic tables: one selectbox per field, starting from names guessed from the columns."""
    try:
        columns, _ = read_table(path)
    except sources.SourceError as exc:
        st.error(shown(exc), icon=":material/error:")
        st.stop()
    guessed = tabular.guess_mapping(columns)
    st.markdown("**Columns**: which column holds each field (guessed from the names; correct what is wrong)")
    mapping = {}
    grid = st.columns(5)
    for i, field in enumerate(tabular.SINGLE):
        options = ["", *columns]
        pick = grid[i % 5].selectbox(f"{field.capitalize()} column", options, key=f"im_map_{field}_{upload.file_id}",
                                     index=options.index(guessed[field]) if field in guessed else 0,
                                     format_func=lambda v: v or "(none)")
        if pick:
            mapping[field] = pick
    judges = st.multiselect("Judge label columns", [c for c in columns if c not in mapping.values()],
                            key=f"im_judges_{upload.file_id}", help="Each becomes a judge named after its column.")
    return {**mapping, **({"judge_label": judges} if judges else {})}


def shown(exc: Exception) -> str:
    """An importer's message with the temporary folder left out: the user knows the file by its name."""
    return str(exc).replace(str(Path(str(getattr(exc, "path", ""))).parent) + "/", "")


with tempfile.TemporaryDirectory(prefix="refusal-review-upload-") as folder:
    path = Path(folder) / (Path(upload.name).name or f"upload.{spec.suffixes[0]}")
    path.write_bytes(upload.getvalue())
    options = options_for(path)
    st.subheader("First rows")
    asked = (upload.file_id, kind, tuple(sorted(options.items())) if spec.reader else ())
    if ss.get("im_preview", (None,))[0] != asked:  # reading a whole log again on every click is slow
        try:
            ss.im_preview = (asked, sources.preview(kind, path, **(options if spec.reader else {})))
        except sources.SourceError as exc:
            st.error(shown(exc), icon=":material/error:")
            st.stop()
    rows = ss.im_preview[1]
    st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True, width="stretch", height=min(35 * (len(rows) + 1) + 3, 213))
    if "mapping" in spec.options:
        options["mapping"] = [f"{field}={column}" for field, columns in mapping_for(path).items()
                              for column in (columns if isinstance(columns, list) else [columns])]
    done = ss.get("im_done")
    if done and done[0] == upload.file_id:  # imported: say what arrived and where to review it
        st.success(done[1], icon=":material/check_circle:")
        for dataset, first in done[2]:
            if first is not None:
                st.page_link("pages/review.py", label=f"Review {dataset}", icon=":material/rate_review:",
                             query_params={"prompt": first, "dataset": dataset})
        st.stop()
    if st.button("Import", type="primary", icon=":material/upload:", key="im_go"):
        try:
            ok, result = True, sources.import_as(db, auth.current_user(), kind, path, **options)
        except UserError as exc:  # the importer's own error, a refused role, a read-only database
            ok, result = False, None
            st.error(shown(exc), icon=":material/error:")
        if ok:
            result = dataclasses.replace(result, path=upload.name)
            ss.im_done = (upload.file_id, result.summary(),
                          [(d, reads.first_source_id(db, d)) for d in result.datasets])
            st.rerun()

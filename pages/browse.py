"""Browse: the current review filter as a paged table (one row per response) or as a prompts x
models grid coloured by verdict (as promptfoo's matrix). Clicking a row, or a cell of the grid,
opens that prompt on the Review page. Only the visible page is read from the database.

At 1280 px the table's key columns fit without scrolling sideways: prompt id, prompt, model,
response, the judges' and humans' labels in short words, and whether the judges agree with the humans
(blank where no human has labelled yet).
"""

import streamlit as st

from analysis import humans
from labels import FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL, UNPARSED
from ui import cached, filters, session, shell
from ui.badges import SHORT
from ui.review_state import ReviewState
from words import count

shell.require_shell()
ss = st.session_state
progress_slot = st.sidebar.container()
selection = filters.sidebar("browse")
filters.keep_state("browse", ("br_size", "br_page", "br_view", "br_colour"))
filters.progress(selection, progress_slot)

WORD = {**{k: v.lower() for k, v in SHORT.items()}, UNPARSED: "unparsed"}
#: Grid cells: a symbol, so colour is not the only signal, and the background of its badge colour.
CELL = {FULL_COMPLIANCE: ("✓ complies", "#d3f0d8"), PARTIAL_REFUSAL: ("◐ partial", "#ffe7c2"),
        FULL_REFUSAL: ("✗ refuses", "#fbd0d0"), UNPARSED: ("? unparsed", "#e6e6e6"), "tie": ("= tie", "#e9ddf7")}
HUMANS = "__humans__"


def open_in_review(prompt_id: int, response_id: int | None) -> None:
    ReviewState.get().open(int(prompt_id), None if response_id is None else int(response_id))
    st.switch_page("pages/review.py")


def short(pairs: list) -> str:
    """Labels in a few words: "refuses ×2" when they agree, "refuses 1 · complies 1" when not
    (who said what is on the Review page)."""
    tally: dict[str, int] = {}
    for _, label in pairs:
        tally[label] = tally.get(label, 0) + 1
    if len(tally) == 1:
        (label, n), = tally.items()
        return WORD.get(label, label) + (f" ×{n}" if n > 1 else "")
    return " · ".join(f"{WORD.get(label, label)} {n}" for label, n in tally.items())


st.title("Browse")
total_responses = cached.progress(selection, session.reviewer()).responses
total_items = cached.count_items(selection)
with st.container(horizontal=True, vertical_alignment="bottom"):
    view = st.segmented_control("View", ["table", "grid"], key="br_view", default="table", required=True,
                                format_func={"table": "Table", "grid": "Prompts × models"}.get)
    size = st.selectbox("Rows per page" if view == "table" else "Prompts per page", (25, 50, 100, 200),
                        key="br_size", width=140)
    rows = total_responses if view == "table" else total_items
    pages = max(1, -(-rows // size))
    if ss.get("br_page", 1) > pages:
        ss.br_page = 1
    number = st.number_input(f"Page (of {pages:,})", 1, pages, key="br_page", width=130)
    st.markdown(f"{count(total_responses, 'response')} in this filter ({count(total_items, 'prompt')})")

if view == "table":
    frame = cached.browse_page(selection, (number - 1) * size, size)
    if frame.empty:
        st.info("Nothing in this filter.", icon=":material/filter_alt_off:")
        st.stop()
    frame = frame.assign(model_shown=frame["model"].map(cached.shown_as("model")),
                         judged=frame["verdicts"].map(short),
                         human=[(f"final: {WORD.get(f, f)}" if isinstance(f, str) else short(p))
                                for p, f in zip(frame["labels"], frame["final"])],
                         tags=frame["tags"].fillna(""))
    # Tall enough for the whole page of rows (up to 50) so a page never scrolls inside the table.
    event = st.dataframe(
        frame.drop(columns=["verdicts", "labels"]), key=f"br_table_{number}_{size}", on_select="rerun",
        selection_mode="single-row", hide_index=True, width="stretch", height=min(len(frame), 50) * 35 + 38,
        column_order=("source_id", "prompt", "model_shown", "response", "judged", "human", "agreement", "tags"),
        column_config={
            "source_id": st.column_config.TextColumn("id", width=70),
            "prompt": st.column_config.TextColumn("prompt", width=175),
            "model_shown": st.column_config.TextColumn("model", width=90),
            "response": st.column_config.TextColumn("response", width=210, help="The first 200 characters"),
            "judged": st.column_config.TextColumn("judges", width=110, help="The judges' labels (who said what: Review)"),
            "human": st.column_config.TextColumn("humans", width=110,
                                                 help="The human labels, or the adjudicator's final label"),
            "agreement": st.column_config.TextColumn(
                "agree?", width=70, help="Do the judges' labels match the human labels (or the final label)? "
                "Blank until a human has labelled the response."),
            "tags": st.column_config.TextColumn("tags", width=80),
        },
    )
    if event.selection.rows:
        row = frame.iloc[event.selection.rows[0]]
        open_in_review(row["prompt_id"], row["response_id"])
    st.caption("Click a row to open it for review.")
    st.stop()

# --- the grid --------------------------------------------------------------------------------
judges = cached.options()["judge"]
# Human labels first once there are any; before that a judge's verdicts, so the grid shows something.
first = 0 if cached.stats()["annotations"] or not judges else 1
colour_by = st.selectbox("Colour by", [HUMANS, *judges], key="br_colour", index=first,
                         format_func=lambda j: "human labels (majority, or the final label)" if j == HUMANS
                         else f"judge {cached.shown_as('judge')(j)}")
cells = cached.grid_page(selection, (number - 1) * size, size, "" if colour_by == HUMANS else colour_by)
if cells.empty:
    st.info("Nothing in this filter.", icon=":material/filter_alt_off:")
    st.stop()
if colour_by == HUMANS:
    votes = cells[["response_id", "labels"]].explode("labels").dropna().rename(columns={"labels": "label"})
    finals = cells.dropna(subset=["final"])[["response_id", "final"]].rename(columns={"final": "label"})
    ref = humans.reference(votes.assign(annotator=range(len(votes))), final=finals)
    cells = cells.merge(ref[["response_id", "reference", "tie"]], on="response_id", how="left")
    cells["shown_label"] = cells["reference"].where(cells["tie"] != True, "tie")  # noqa: E712 (NaN: unlabelled)
else:
    cells["shown_label"] = cells["judge_label"]
cells["model_shown"] = cells["model"].map(cached.shown_as("model"))
cells["row"] = cells["source_id"] + " · " + cells["prompt"].str.slice(0, 70)
# Every model a column, even where nothing has a label yet (a pivot_table would drop all-empty columns).
grid = cells.groupby(["row", "model_shown"], sort=False)["shown_label"].first().unstack()
grid = grid.reindex(index=cells["row"].drop_duplicates(), columns=cells["model_shown"].drop_duplicates())
if colour_by == HUMANS and grid.isna().all().all():
    st.caption("No human labels on this page yet (every cell is —): colour by a judge to see its verdicts.")
models = list(grid.columns)
text = grid.map(lambda v: CELL[v][0] if isinstance(v, str) and v in CELL else "—").reset_index()
styled = text.style.apply(lambda col: [f"background-color: {CELL[v][1]}" if isinstance(v, str) and v in CELL else ""
                                       for v in grid[col.name]], axis=0, subset=models)
event = st.dataframe(styled, key=f"br_grid_{number}_{size}_{colour_by}", on_select="rerun", hide_index=True,
                     selection_mode="single-cell", width="stretch", height=min(len(grid), 50) * 35 + 38,
                     column_config={"row": st.column_config.TextColumn("prompt", width=330),
                                    **{m: st.column_config.TextColumn(m, width=110) for m in models}})
st.caption("✓ full compliance · ◐ partial refusal · ✗ full refusal · ? unreadable judge output · = human labels tie · "
           "— none yet. "
           "Click a cell to open that response for review.")
if event.selection.cells:
    position, column = event.selection.cells[0]
    row = grid.index[position]
    hit = cells[(cells["row"] == row) & (cells["model_shown"] == column)]
    first = cells[cells["row"] == row].iloc[0]
    open_in_review(first["prompt_id"], hit["response_id"].iloc[0] if len(hit) else None)

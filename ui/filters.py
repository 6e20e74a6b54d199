"""The selection widgets (sidebar, shared by the review and browse pages) and the progress widget.

Filter widgets keep their values in ``st.session_state`` under ``rv_*`` keys. Streamlit drops a
widget's state when a run does not draw it (any other page), and a widget on another page is a new
widget, so each value is also copied to a plain ``_keep_rv_*`` key and handed back from there when
the user arrives on a page: the filter survives page switches as well as reruns.

Counting a selection is a scan, so those reads go through ui/cached.py: a rerun on the same data
costs index lookups only, whatever the size of the database.
"""

import streamlit as st

from labels import JUDGE_LABELS
from store.selection import ORDERS, STATUSES, SearchError, Selection
from ui import cached, session

FIELDS = ("dataset", "category", "subcategory", "team_category", "model", "judge", "judge_label", "expected",
          "status", "search", "order", "seed")
KEYS = tuple(f"rv_{name}" for name in FIELDS)


def keep_state(page: str, keys: tuple[str, ...] = KEYS) -> None:
    """Keep these widgets' values across page switches (see the module docstring); call it before
    the widgets are drawn. On the page that drew them last, the widget's value is saved; on
    arriving at another page it is handed back to the new widget (whose id differs per page)."""
    for key in keys:
        kept = st.session_state.get(f"_keep_{key}")
        if key in st.session_state and kept and kept[0] == page:
            st.session_state[f"_keep_{key}"] = (page, st.session_state[key])
        elif kept:
            st.session_state[key] = kept[1]
            st.session_state[f"_keep_{key}"] = (page, kept[1])
        elif key in st.session_state:
            st.session_state[f"_keep_{key}"] = (page, st.session_state[key])


def _choice(label: str, key: str, values: list[str], fmt=None) -> None:
    if st.session_state.get(key, "") not in ("", *values):
        st.session_state[key] = ""
    st.selectbox(label, ["", *values], key=key, format_func=lambda v: (fmt(v) if fmt else v) if v else "any")


def sidebar(page: str) -> Selection:
    """Selection widgets in the sidebar of ``page``; returns the selection. A search that cannot be
    one shows its message and is ignored."""
    keep_state(page)
    opts = cached.options()
    nice = lambda v: v.replace("_", " ")  # noqa: E731
    with st.sidebar.expander("Filter", expanded=True, icon=":material/filter_alt:"):
        st.text_input("Search prompt and response text", key="rv_search",
                      help='Words are matched as text. "exact phrase", OR and NOT (in capitals), prefix* (3+ letters).')
        _choice("Dataset", "rv_dataset", opts["dataset"])
        _choice("Category", "rv_category", opts["category"])
        _choice("Subcategory", "rv_subcategory", opts["subcategory"])
        if opts["team_category"]:
            _choice("Team category", "rv_team_category", opts["team_category"])
        _choice("Expected behaviour", "rv_expected", opts["expected"], nice)
        _choice("Model", "rv_model", opts["model"])
        _choice("Judge", "rv_judge", opts["judge"])
        _choice("Judge label", "rv_judge_label", list(JUDGE_LABELS), nice)
        st.session_state.setdefault("rv_status", "")
        st.selectbox("Human status", list(STATUSES), key="rv_status", format_func=STATUSES.get)
        st.session_state.setdefault("rv_order", "stored")
        st.selectbox("Order", list(ORDERS), key="rv_order", format_func=ORDERS.get)
        if st.session_state["rv_order"] == "random":
            st.session_state.setdefault("rv_seed", 0)
            st.number_input("Random seed", key="rv_seed", step=1, min_value=0)
    values = {name: st.session_state.get(f"rv_{name}", "") for name in FIELDS}
    values["seed"] = int(values["seed"] or 0)
    values["order"] = values["order"] or "stored"
    try:
        return Selection(**values)
    except SearchError as exc:
        st.sidebar.error(str(exc), icon=":material/search_off:")
        return Selection(**{**values, "search": ""})


def progress(selection: Selection, where=None) -> None:
    """Progress in the sidebar (or ``where``, a slot made above the filter so it stays in sight):
    responses with a human label / responses in the current selection."""
    counts = cached.progress(selection, session.reviewer())
    share = counts.labelled / counts.responses if counts.responses else 0.0
    with where or st.sidebar:
        st.progress(share, text=f"Labelled **{counts.labelled:,} / {counts.responses:,}** responses "
                                f"in this filter ({counts.items:,} prompts)")
        if session.reviewer():
            st.caption(f"{counts.mine:,} labelled by you")

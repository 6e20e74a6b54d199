"""The selection widgets (sidebar, shared by the review, browse and run pages) and the progress widget.

Filter widgets keep their values in ``st.session_state`` under ``rv_*`` keys. Streamlit drops a
widget's state when a run does not draw it (any other page), and a widget on another page is a new
widget, so each value is also copied to a plain ``_keep_rv_*`` key and handed back from there when
the user arrives on a page: the filter survives page switches as well as reruns.

The filter is also in the URL, as ``f.<field>=value`` for each field that differs from the default
(``Selection.changed``), so a reload keeps it and a copied link opens the same filtered view in
another browser. A filter in the URL that this session did not write (a new session's link, the
browser's back button) is put into the widgets; a page switch, which drops the query string, keeps
the session's filter and writes it back.

Counting a selection is a scan, so those reads go through ui/cached.py: a rerun on the same data
costs index lookups only, whatever the size of the database.
"""

import streamlit as st

from labels import JUDGE_LABELS
from store.selection import ORDERS, STATUSES, SearchError, Selection, SelectionError
from ui import cached, session
from words import count

FIELDS = ("dataset", "category", "subcategory", "team_category", "model", "judge", "judge_label", "expected",
          "status", "tag", "search", "order", "seed")
KEYS = tuple(f"rv_{name}" for name in FIELDS)
URL_PREFIX = "f."
_URL_WRITTEN = "_filter_url"  # the filter this session last put in the URL


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


def _url_filter() -> dict[str, str]:
    return {k[len(URL_PREFIX):]: v for k, v in st.query_params.to_dict().items() if k.startswith(URL_PREFIX)}


def _take_url(page: str) -> None:
    """Put the URL's filter into the widgets when the session starts, or when the URL carries one
    this session did not write (see the module docstring)."""
    ss = st.session_state
    url = _url_filter()
    if not url or url == ss.get(_URL_WRITTEN):
        return
    try:
        chosen = Selection.from_mapping(url)
    except SelectionError as exc:  # a hand-edited link: say what is wrong, keep the rest of the page
        st.sidebar.warning(f"The link's filter was not applied: {exc}", icon=":material/link_off:")
        chosen = Selection()
    for name in FIELDS:
        ss[f"rv_{name}"] = getattr(chosen, name)
        ss[f"_keep_rv_{name}"] = (page, getattr(chosen, name))
    ss[_URL_WRITTEN] = {k: str(v) for k, v in chosen.changed().items()}


def _put_url(selection: Selection) -> None:
    wanted = {k: str(v) for k, v in selection.changed().items()}
    if _url_filter() != wanted:
        for key in [k for k in st.query_params.to_dict() if k.startswith(URL_PREFIX)]:
            del st.query_params[key]
        st.query_params.update({URL_PREFIX + k: v for k, v in wanted.items()})
    st.session_state[_URL_WRITTEN] = wanted


def sidebar(page: str) -> Selection:
    """Selection widgets in the sidebar of ``page``; returns the selection. A search that cannot be
    one shows its message and is ignored."""
    keep_state(page)
    _take_url(page)
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
        _choice("Model", "rv_model", opts["model"], cached.shown_as("model"))
        _choice("Judge", "rv_judge", opts["judge"], cached.shown_as("judge"))
        _choice("Judge label", "rv_judge_label", list(JUDGE_LABELS), nice)
        st.session_state.setdefault("rv_status", "")
        st.selectbox("Human status", list(STATUSES), key="rv_status", format_func=STATUSES.get)
        tags = cached.vocabulary()
        if tags:
            _choice("Tag", "rv_tag", tags)
        st.session_state.setdefault("rv_order", "stored")
        st.selectbox("Order", list(ORDERS), key="rv_order", format_func=ORDERS.get)
        if st.session_state["rv_order"] == "random":
            st.session_state.setdefault("rv_seed", 0)
            st.number_input("Random seed", key="rv_seed", step=1, min_value=0)
    values = {name: st.session_state.get(f"rv_{name}", "") for name in FIELDS}
    values["seed"] = int(values["seed"] or 0)
    values["order"] = values["order"] or "stored"
    try:
        selection = Selection(**values)
    except SearchError as exc:
        st.sidebar.error(str(exc), icon=":material/search_off:")
        selection = Selection(**{**values, "search": ""})
    _put_url(selection)
    return selection


def progress(selection: Selection, where=None) -> None:
    """Progress in the sidebar (or ``where``, a slot made above the filter so it stays in sight):
    responses with a human label / responses in the current selection."""
    counts = cached.progress(selection, session.reviewer())
    share = counts.labelled / counts.responses if counts.responses else 0.0
    with where or st.sidebar:
        st.progress(share, text=f"Labelled **{counts.labelled:,} / {counts.responses:,}** responses "
                                f"in this filter ({count(counts.items, 'prompt')})")
        if session.reviewer():
            st.caption(f"{counts.mine:,} labelled by you")

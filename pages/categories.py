"""The team's own categories: the taxonomy (admin), and putting prompts in them in bulk (reviewer).

A category's rubric is the text the LLM judge and the review page show for its prompts; a category
named like a benchmark category (e.g. CoCoNot's "Incomplete requests") lends its rubric to all of
that category's prompts without assigning them.
"""

import pandas as pd
import streamlit as st

from store import categories
from store.selection import SearchError, Selection
from ui import auth, cached, display, session, shell
from words import count

shell.require_shell()

db = session.db()
user = auth.current_user()

st.title("Categories")
listed = categories.list_categories(db)
if listed:
    st.dataframe(pd.DataFrame(listed)[["path", "description", "rubric", "prompts"]], hide_index=True,
                 width="stretch", column_config={"path": "Category", "prompts": st.column_config.NumberColumn("Prompts")})
else:
    st.info("No categories yet. An admin defines the first one below.")

define_tab, assign_tab = st.tabs(["Define", "Assign prompts"])

with define_tab:
    blocked = auth.why_not("admin")
    if blocked:
        st.caption(blocked)
    names = [c["name"] for c in listed]
    editing = st.selectbox("Category", ["New category…"] + names, disabled=blocked is not None)
    current = next((c for c in listed if c["name"] == editing), {})
    with st.form(f"define-{editing}"):
        name = st.text_input("Name", value=current.get("name", ""), max_chars=categories.MAX_NAME,
                             disabled=blocked is not None)
        description = st.text_input("Description", value=current.get("description") or "", disabled=blocked is not None)
        parents = ["(top level)"] + [n for n in names if n != editing]
        parent = st.selectbox("Parent", parents, disabled=blocked is not None,
                              index=parents.index(current["parent"]) if current.get("parent") in parents else 0)
        rubric = st.text_area("Rubric (shown to reviewers and the LLM judge)", value=current.get("rubric") or "",
                              height=160, disabled=blocked is not None)
        saved = st.form_submit_button("Save", icon=":material/save:", disabled=blocked is not None)
    if saved:
        ok, _ = auth.attempt(categories.define, db, user, current.get("name") or name, description,
                             None if parent == "(top level)" else parent, rubric,
                             rename_to=name if current and name != current["name"] else None)
        if ok:
            st.success(f"Saved {display.escape_markdown(name)}.")
            st.rerun()
    if current and st.button("Delete this category", icon=":material/delete:", disabled=blocked is not None,
                             help="Removes the category and its assignments; prompts and labels stay."):
        if auth.attempt(categories.delete, db, user, current["name"])[0]:
            st.rerun()

with assign_tab:
    blocked = auth.why_not("reviewer")
    if blocked:
        st.caption(blocked)
    if not listed:
        st.caption("Define a category first.")
    else:
        opts = cached.options()
        columns = st.columns(4)
        dataset = columns[0].selectbox("Dataset", ["", *opts["dataset"]], format_func=lambda v: v or "any")
        category = columns[1].selectbox("Benchmark category", ["", *opts["category"]], format_func=lambda v: v or "any")
        subcategory = columns[2].selectbox("Subcategory", ["", *opts["subcategory"]], format_func=lambda v: v or "any")
        words = columns[3].text_input("Prompt or response contains",
                                      help='The Review page\'s search: words as text, "phrase", OR, NOT, prefix*.')
        try:  # the same selection, and so the same prompts, as the Review page's filter with these values
            ids = cached.prompt_ids(Selection(dataset=dataset, category=category, subcategory=subcategory,
                                              search=words))
        except SearchError as exc:
            st.error(str(exc), icon=":material/search_off:")
            ids = []
        target = st.selectbox("Category", names)
        st.caption(f"{count(len(ids), 'prompt')} match{'es' if len(ids) == 1 else ''} this filter.")
        left, right = st.columns(2)
        if left.button(f"Assign {count(len(ids), 'prompt')} to {display.escape_markdown(target)}",
                       disabled=blocked is not None or not ids, icon=":material/playlist_add:"):
            ok, added = auth.attempt(categories.assign, db, user, target, ids)
            if ok:
                st.success(f"{count(added, 'prompt')} newly assigned to {display.escape_markdown(target)}.")
        if right.button(f"Remove them from {display.escape_markdown(target)}", disabled=blocked is not None or not ids,
                        icon=":material/playlist_remove:"):
            ok, removed = auth.attempt(categories.unassign, db, user, target, ids)
            if ok:
                st.success(f"{count(removed, 'prompt')} removed from {display.escape_markdown(target)}.")

"""Widgets for team work that other pages place: assigning a prompt to the team's categories and
adding an item to a showcase."""

import urllib.parse

import streamlit as st

from store import categories, showcases
from ui import auth, display, session


def presenter_link(showcase: str, number: int = 1) -> str:
    """The deep link that opens a showcase's item in the presenter view."""
    return "/showcase?" + urllib.parse.urlencode({"showcase": showcase, "item": number})


def _save_categories(prompt_id: int, user: str, key: str) -> None:
    auth.attempt_later(key, categories.set_for_prompt, user, prompt_id, st.session_state[key])
    st.session_state[key] = categories.for_prompt(session.db(), prompt_id)  # what is stored, refused or not


def category_picker(db, prompt_id: int, user: str | None) -> None:
    """Multiselect of the team's categories for one prompt; a change is saved at once (reviewer or
    admin). Shows nothing when no category is defined yet, except a pointer to the Categories page."""
    names = categories.names(db)
    if not names:
        st.caption("No team categories yet; an admin defines them on the Categories page.")
        return
    key = f"team-categories-{prompt_id}"
    stored = categories.for_prompt(db, prompt_id)
    if st.session_state.get(f"{key}-prompt") != stored:  # first show, or changed elsewhere: show the truth
        st.session_state[key] = stored
    blocked = auth.why_not("reviewer")
    st.multiselect("Team categories", names, key=key, disabled=blocked is not None, help=blocked,
                   on_change=_save_categories, args=(prompt_id, user, key), placeholder="none")
    auth.show_refusal(key)
    st.session_state[f"{key}-prompt"] = stored


def add_to_showcase(db, prompt_id: int, response_ids, user: str | None) -> int | None:
    """A small form: pick (or name) a showcase, the responses to show, a comment; returns the new
    item id once added. Reviewer or admin; others see why the form is disabled."""
    blocked = auth.why_not("reviewer")
    existing = [s["name"] for s in showcases.list_showcases(db)]
    models = showcases.models_of(db, response_ids)
    with st.form(f"showcase-form-{prompt_id}", clear_on_submit=True, border=False):
        choice = st.selectbox("Showcase", existing + ["New showcase…"], disabled=blocked is not None)
        new_name = st.text_input("New showcase name", disabled=blocked is not None,
                                 help="Used when 'New showcase…' is chosen above.")
        chosen = st.multiselect("Responses to show", list(models), default=list(models),
                                format_func=lambda rid: f"{models[rid]} (#{rid})", disabled=blocked is not None)
        comment = st.text_area("Comment for the audience", disabled=blocked is not None, height=80)
        submitted = st.form_submit_button("Add to showcase", icon=":material/slideshow:",
                                          disabled=blocked is not None)
    if blocked:
        st.caption(blocked)
    if not submitted:
        return None
    name = new_name.strip() if choice == "New showcase…" or not existing else choice
    ok, item_id = auth.attempt(showcases.add_item, db, user, name, prompt_id, chosen, comment)
    if ok:
        number = showcases.position(db, name, item_id)
        st.success(f"Added as item {number} of **{display.escape_markdown(name)}**. "
                   f"[Present it]({presenter_link(name, number)})", icon=":material/check:")
    return item_id

"""Showcases: manage the team's named selections, and present one, item by item, to stakeholders.

``?showcase=NAME&item=N`` opens the presenter view directly (the link a lead pastes in a chat).
The presenter view is read-only and shows only what the item holds; prompts and responses are
rendered inert (ui.display), and items of unsafe categories stay behind a content warning until
the presenter chooses to show them.
"""

import streamlit as st

from store import showcases
from ui import auth, badges, cached, display, session, shell, teams
from words import count

shell.require_shell()

db = session.db()
params = st.query_params


def _go(name: str | None, number: int = 1) -> None:
    st.query_params.clear()
    if name:
        st.query_params.update({"showcase": name, "item": str(number)})


def presenter(name: str) -> None:
    try:
        total = len(showcases.items(db, name))
    except showcases.ShowcaseError:
        st.error(f"There is no showcase named {display.quote(name)}. It may have been renamed or deleted.",
                 icon=":material/search_off:")
        st.button("All showcases", on_click=_go, args=(None,))
        return
    if total == 0:
        st.info(f"The showcase **{display.escape_markdown(name)}** has no items yet: add some from the review page.")
        st.button("All showcases", on_click=_go, args=(None,))
        return
    try:
        number = min(max(int(params.get("item", 1)), 1), total)
    except ValueError:
        number = 1
    item = showcases.item(db, name, number)
    prompt = item["prompt"]

    st.html("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'],"
            " [data-testid='stHeader'] {display: none;}"
            "[data-testid='stMainBlockContainer'] {max-width: 1500px; padding-top: 2rem;}"
            ".st-key-presenter [data-testid='stMarkdownContainer'] p,"
            ".st-key-presenter [data-testid='stMarkdownContainer'] li {font-size: 1.2rem; line-height: 1.6;}"
            ".st-key-presenter-prompt [data-testid='stMarkdownContainer'] p {font-size: 1.6rem; font-weight: 500;}"
            "</style>")
    top = st.columns([5, 1.4, 1.4, 1.2], vertical_alignment="center")
    top[0].caption(f"{display.escape_markdown(name)} · item {number} of {total}")
    top[1].button("Previous", icon=":material/arrow_back:", shortcut="Left", disabled=number <= 1,
                  on_click=_go, args=(name, number - 1), width="stretch")
    top[2].button("Next", icon=":material/arrow_forward:", shortcut="Right", disabled=number >= total,
                  on_click=_go, args=(name, number + 1), width="stretch")
    top[3].button("Close", icon=":material/close:", on_click=_go, args=(None,), width="stretch")

    with st.container(key="presenter"):
        facts = [display.escape_markdown(prompt["dataset"]), display.escape_markdown(prompt["category"] or "no category")]
        if prompt["subcategory"]:
            facts.append(display.escape_markdown(prompt["subcategory"]))
        facts += [f"**{display.escape_markdown(c)}**" for c in prompt["categories"]]
        st.markdown(" · ".join(facts) + "  " + badges.expected_badge(prompt["expected"]))
        if item["comment"]:
            st.info(display.inert_markdown(item["comment"]), icon=":material/chat:")
        shown = True
        if display.needs_content_warning(prompt["dataset"], prompt["split"], prompt["category"],
                                         prompt["subcategory"], prompt["expected"], prompt["categories"]):
            st.warning("**Content warning.** This prompt asks for something a model should refuse, or falls in a "
                       "sensitive category; it and the answers may be disturbing.", icon=":material/warning:")
            shown = st.toggle("Show the prompt and the answers", key=f"reveal-{name}-{number}")
        if not shown:
            return
        with st.container(key="presenter-prompt", border=True):
            st.caption("Prompt")
            display.show_text(prompt["text"])
        if not item["responses"]:
            st.caption("No responses were chosen for this item.")
        columns = st.columns(min(len(item["responses"]), 3)) if item["responses"] else []
        model_name, judge_name = cached.shown_as("model"), cached.shown_as("judge")  # never hashes or "unknown"
        for i, response in enumerate(item["responses"]):
            with columns[i % len(columns)].container(border=True):
                st.markdown(f"#### {display.escape_markdown(model_name(response['model']))}")
                verdicts = " ".join(badges.badge(v["label"], judge_name(v["judge"]))
                                    for v in response["verdicts"])
                humans = " ".join(badges.badge(h["label"], h["annotator"]) for h in response["labels"])
                if verdicts:
                    st.markdown(f"**Judges** {verdicts}")
                if humans:
                    st.markdown(f"**Reviewers** {humans}")
                display.show_text(response["text"])


def manage() -> None:
    st.title("Showcases")
    st.caption("Named selections of items to show people who never open the review page. Add items from the "
               "review page; present a showcase here or send its link.")
    auth.show_refusal("showcases")
    listed = showcases.list_showcases(db)
    if not listed:
        st.info("No showcases yet. On the review page, use **Add to showcase** under an item.")
    for entry in listed:
        with st.container(border=True):
            with st.container(horizontal=True, vertical_alignment="center"):  # one row, every button level
                st.markdown(f"**{display.escape_markdown(entry['name'])}** · {count(entry['items'], 'item')}"
                            + (f" · by {display.escape_markdown(entry['created_by'])}" if entry["created_by"] else ""),
                            width="stretch")
                st.button("Present", key=f"present-{entry['name']}", icon=":material/slideshow:",
                          on_click=_go, args=(entry["name"],), disabled=not entry["items"])
                st.link_button("Link", teams.presenter_link(entry["name"]), icon=":material/link:",
                               help="The presenter view in a new tab: copy its address to send it.")
                blocked = auth.why_not("admin")
                st.button("Delete", key=f"delete-{entry['name']}", icon=":material/delete:",
                          disabled=blocked is not None, help=blocked or "Deletes the showcase, not the data.",
                          on_click=auth.attempt_later,
                          args=("showcases", showcases.delete, auth.current_user(), entry["name"]))
            with st.expander("Items"):
                remove_blocked = auth.why_not("reviewer")
                for number, it in enumerate(showcases.items(db, entry["name"]), start=1):
                    row = st.columns([1, 8, 1], vertical_alignment="center")
                    row[0].markdown(f"[{number}]({teams.presenter_link(entry['name'], number)})")
                    row[1].markdown(display.inert_markdown(it["prompt"][:160])
                                    + (f"  \n*{display.inert_markdown(it['comment'])}*" if it["comment"] else ""))
                    row[2].button("Remove", key=f"remove-{it['id']}", disabled=remove_blocked is not None,
                                  help=remove_blocked, on_click=auth.attempt_later,
                                  args=("showcases", showcases.remove_item, auth.current_user(), it["id"]))

    blocked = auth.why_not("reviewer")
    with st.form("new-showcase", clear_on_submit=True):
        st.markdown("**New showcase**")
        name = st.text_input("Name", disabled=blocked is not None)
        description = st.text_input("Description", disabled=blocked is not None)
        if st.form_submit_button("Create", disabled=blocked is not None):
            if auth.attempt(showcases.create, db, auth.current_user(), name, description)[0]:
                st.rerun()
    if blocked:
        st.caption(blocked)


if params.get("showcase"):
    presenter(params["showcase"])
else:
    manage()

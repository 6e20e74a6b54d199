"""Prompt review: should a model refuse this prompt, and what category is it? One key press records
the reviewer's label (1 should comply · 2 unclear · 3 should refuse), N moves on, U undoes.

For a built prompt set this is the human check the moderators are measured against; for a
benchmark (CoCoNot, OR-Bench, XSTest) it audits the benchmark's own expected behaviour, and the
"disagrees with the benchmark" filter lists the gold labels the team flagged. The page draws;
``ui.prompt_review_state.PromptReviewState`` decides which prompt is open. The open prompt is
mirrored into the URL (``?prompt=<source_id>&dataset=...``).
"""

import streamlit as st

from errors import UserError
from labels import (
    MODERATION_CATEGORIES,
    PROMPT_LABELS,
    SHOULD_COMPLY,
    SHOULD_REFUSE,
    UNCLEAR,
)
from store import prompt_labels
from store.selection import ORDERS, SearchError, Selection
from ui import auth, cached, filters, session, shell
from ui import prompt_review_state as keys
from ui.badges import badge, expected_badge, label_text, moderation_badge
from ui.display import escape_markdown, inert_markdown, needs_content_warning, show_text
from ui.prompt_review_state import PromptReviewState

BUTTONS = {SHOULD_COMPLY: ("Should comply", "1"), UNCLEAR: ("Unclear", "2"), SHOULD_REFUSE: ("Should refuse", "3")}
ss = st.session_state

shell.require_shell()
db = session.db()
state = PromptReviewState.get()
filters.keep_state("prompt_review", keys.PAGE_KEYS)
options = cached.options()
progress_slot = st.sidebar.container()
with st.sidebar.expander("Filter", expanded=True, icon=":material/filter_alt:"):
    st.text_input("Search prompt text", key=keys.SEARCH,
                  help='Words are matched as text. "exact phrase", OR and NOT (in capitals), prefix* (3+ letters).')
    for label, key, values in (("Dataset", keys.DATASET, options["dataset"]),
                               ("Category", keys.CATEGORY, options["category"])):
        if ss.get(key, "") not in ("", *values):
            ss[key] = ""
        st.selectbox(label, ["", *values], key=key, format_func=lambda v: v or "any")
    ss.setdefault(keys.STATUS, "")
    st.selectbox("Status", list(prompt_labels.STATUSES), key=keys.STATUS, format_func=prompt_labels.STATUSES.get)
    ss.setdefault(keys.ORDER, "stored")
    st.selectbox("Order", ["stored", "random"], key=keys.ORDER, format_func=ORDERS.get)
    if ss[keys.ORDER] == "random":
        ss.setdefault(keys.SEED, 0)
        st.number_input("Random seed", key=keys.SEED, step=1, min_value=0)
with st.sidebar.expander("Team queue", icon=":material/groups:"):
    queue = st.toggle("Queue mode", key=keys.QUEUE_MODE,
                      help="Hands you the next prompt you have not labelled, from the current filter.")
    overlap = st.number_input("Reviewers per prompt (k)", 1, 20, key=keys.OVERLAP,
                              help="Only prompts with fewer than k human labels are handed out.")
    blind = st.toggle("Blind labelling", key=keys.BLIND,
                      help="Hide the moderators, the benchmark's expected behaviour and other reviewers until you "
                           "have labelled the prompt.")
with st.sidebar.expander("Display", icon=":material/visibility:"):
    ss.setdefault(keys.HIDE_SENSITIVE, True)
    st.toggle("Hide sensitive content until clicked", key=keys.HIDE_SENSITIVE)

status = ss.get(keys.STATUS, "")
try:
    selection = Selection(dataset=ss.get(keys.DATASET, ""), category=ss.get(keys.CATEGORY, ""),
                          search=ss.get(keys.SEARCH, ""), order=ss.get(keys.ORDER) or "stored",
                          seed=int(ss.get(keys.SEED) or 0))
except SearchError as exc:
    st.sidebar.error(str(exc), icon=":material/search_off:")
    selection = Selection(dataset=ss.get(keys.DATASET, ""), category=ss.get(keys.CATEGORY, ""))
view = (selection, status)  # what the prompts are listed by: ui.item_state's view
me = session.reviewer()
k = int(overlap) if queue else None
with progress_slot:
    total, labelled, mine = cached.prompt_progress(selection, status, me)
    st.progress(labelled / total if total else 0.0, text=f"Labelled **{labelled:,} / {total:,}** prompts in this filter")
    if me:
        st.caption(f"{mine:,} labelled by you")


def label(prompt_id: int, value: str) -> None:
    name = session.reviewer()
    try:
        prompt_labels.add_label(session.db(), prompt_id, name, value, ss.get(keys.category_key(prompt_id)),
                                ss.get(keys.note_key(prompt_id)))
    except UserError as exc:  # bad label, role refused, read-only file
        state.flash("error", f"Not saved: {escape_markdown(exc)}")
        return
    state.report_saved(value)


def save_and_next() -> None:
    """A category or note changed after labelling is saved with the label again, then on to the next."""
    name = session.reviewer()
    item = prompt_labels.fetch_prompt(session.db(), state.prompt) if state.prompt is not None else None
    mine = item.current.get(name) if item and name else None
    if mine:
        category = ss.get(keys.category_key(item.prompt_id))
        note = (ss.get(keys.note_key(item.prompt_id)) or "").strip() or None
        if (category, note) != (mine.category, mine.note):
            try:
                prompt_labels.add_label(session.db(), item.prompt_id, name, mine.label, category, note)
            except UserError as exc:
                state.flash("error", f"Not saved: {escape_markdown(exc)}")
                return
    state.next_item(session.db(), view, name, k, () if mine or state.prompt is None else (state.prompt,))


def undo() -> None:
    try:
        state.undo_on_prompt(session.db(), session.reviewer())
    except UserError as exc:
        state.flash("error", f"Not undone: {escape_markdown(exc)}")


# --- which prompt is open ----------------------------------------------------------------------
state.resolve(db, view, st.query_params.get("prompt"), st.query_params.get("dataset", ""), me, k)
for kind, text in state.take_flashes():
    getattr(st, kind)(text)
said = state.take_said()  # what the last label or undo did: in the top bar, this run only

blocked = auth.explain_labelling()
if queue and me is None:
    st.stop()

item = prompt_labels.fetch_prompt(db, state.prompt) if state.prompt is not None else None
if item is None:
    st.info("No prompt to review in this filter. Widen the filter, import a benchmark, or build a prompt set on "
            "the Build page.", icon=":material/filter_alt_off:")
    st.stop()
params = {"prompt": item.source_id, "dataset": item.dataset}
if st.query_params.to_dict() != params:
    st.query_params.from_dict(params)
state.url = item.source_id
mine = item.current.get(me) if me else None
show_others = not (queue and blind) or mine is not None

# --- navigation --------------------------------------------------------------------------------
with st.container(horizontal=True, vertical_alignment="center"):
    if queue:
        left = cached.prompt_queue_left(selection, status, me, k)
        st.button("Back", icon=":material/chevron_left:", key="pr_queue_back", shortcut="P",
                  on_click=state.queue_back, disabled=not state.visited)
        st.markdown(f"**Queue** · {left:,} prompts left for you (k = {k})")
    else:
        inside = cached.prompt_contains(selection, status, item.prompt_id)
        where = f"{cached.prompt_position(selection, status, item.prompt_id) + 1:,}" if inside else "—"
        st.button("Previous", icon=":material/chevron_left:", key="pr_prev", shortcut="P",
                  on_click=lambda: state.step(session.db(), view, -1))
        st.markdown(f"Prompt **{where}** of **{total:,}**" + ("" if inside else " · *outside the filter*"))
        st.button("Next", icon=":material/chevron_right:", key="pr_next",
                  on_click=lambda: state.step(session.db(), view, 1))
    can_label = me is not None and not blocked  # as on the Review page: primary only with something to save
    st.button("Save and next" if can_label else "Next prompt", icon=":material/done_all:",
              type="primary" if can_label else "secondary", key="pr_save_next", shortcut="N", on_click=save_and_next)
    if said:
        with st.container(key="pr_said"):  # one line (ui/layout.py): nothing moves when it shows
            st.markdown(said)

# --- the prompt --------------------------------------------------------------------------------
hidden = (ss[keys.HIDE_SENSITIVE] and item.prompt_id not in state.revealed
          and needs_content_warning(item.dataset, item.split, item.category, item.subcategory, item.expected))
where = " › ".join(escape_markdown(x) for x in (item.dataset, item.category, item.subcategory) if x)
source_id = item.source_id.replace("`", "'")
gold = f"benchmark says {expected_badge(item.expected)} · " if item.expected and show_others else ""
st.markdown(f"{gold}{where} · prompt `{source_id}`")
with st.container(border=True):
    if hidden:
        st.warning("This prompt is in a sensitive category; it is hidden.", icon=":material/visibility_off:")
        st.button("Show content", key="pr_reveal", icon=":material/visibility:",
                  on_click=lambda: state.revealed.add(item.prompt_id))
    else:
        show_text(item.text)
if item.lineage and not hidden:
    seed = item.lineage[-1]
    made = " → ".join(f"{escape_markdown(step['step'] or 'prompt')} in {escape_markdown(step['dataset'])}"
                      for step in reversed(item.lineage))
    st.caption(f":material/account_tree: Made from: {made}. Seed: “{inert_markdown(seed['text'][:300])}”"
               + (f" (asked for {escape_markdown(seed['asked_category'])})" if seed.get("asked_category") else ""))

# --- the label ---------------------------------------------------------------------------------
choices = list(dict.fromkeys([c for c in (item.category,) if c] + list(MODERATION_CATEGORIES)))
pick = keys.category_key(item.prompt_id)
if ss.get(pick) not in choices:
    ss[pick] = mine.category if mine and mine.category in choices else choices[0]
left, right = st.columns([2, 1])
with left:
    with st.container(horizontal=True, gap="small"):
        for value in PROMPT_LABELS:
            text, key = BUTTONS[value]
            st.button(f"{text} ({key})", key=f"pr_label_{value}", shortcut=key, on_click=label,
                      args=(item.prompt_id, value), disabled=me is None or bool(blocked),
                      type="primary" if mine and mine.label == value else "secondary",
                      icon=":material/check:" if mine and mine.label == value else None)
    st.text_input("Note (optional)", key=keys.note_key(item.prompt_id), placeholder="why? (saved with the label)",
                  label_visibility="collapsed")
with right:
    st.selectbox("Category", choices, key=pick, help="Saved with your label: which category the prompt is in "
                                                     "(or seems to be in, for a prompt that should be answered).")
    st.button("Undo my last label here", key="pr_undo", icon=":material/undo:", shortcut="U", on_click=undo,
              disabled=me is None or bool(blocked) or not any(a.annotator == me for a in item.history))

if show_others:
    humans = " ".join(badge(a.label, name) + (f" ({escape_markdown(a.category)})" if a.category else "")
                      for name, a in item.current.items())
    st.markdown("**Reviewers** · " + (humans or ":gray-badge[not reviewed yet]"))
    if item.moderations:
        st.markdown("**Moderators** · " + " ".join(moderation_badge(lab, name) for name, lab, _ in item.moderations))
        with st.expander("Moderators' explanations"):
            for name, lab, rationale in item.moderations:
                st.markdown(f"{moderation_badge(lab, name)}")
                show_text(rationale or "(no readable choice; raw output kept in the database)")
    with st.expander(f"History ({len(item.history)})", icon=":material/history:"):
        for a in reversed(item.history):
            what = f"undo of #{a.undoes} → {label_text(a.label)}" if a.undoes else label_text(a.label)
            extra = f" · {escape_markdown(a.category)}" if a.category and not a.undoes else ""
            note = f" · *{inert_markdown(a.note)}*" if a.note and not a.undoes else ""
            st.markdown(f"#{a.id} · {a.created_at[:16].replace('T', ' ')} · **{escape_markdown(a.annotator)}** · "
                        f"{what}{extra}{note}")
else:
    st.caption(":material/visibility_off: Blind labelling: moderators, the benchmark's expected behaviour and "
               "other reviewers are hidden until you have labelled this prompt.")

"""Review: one prompt, every model's response side by side, the judges' verdicts and the human
labels; one key press records the reviewer's own label.

The page draws; ``ui.review_state.ReviewState`` decides which item is open and where the focus is.
The open item is mirrored into the URL (``?prompt=<source_id>&dataset=...&model=<focused model>``)
beside the filter (``f.*``, ui/filters.py), so a reload or a pasted link lands on the same item in
the same filtered view. At 1280 x 800 the navigation, the prompt and every response's verdicts and
buttons fit on the screen (ui/layout.py; long texts scroll inside their card); with more than three
models, the focused response's and the compared one's, the summary of all below them.
"""

import streamlit as st

from errors import UserError
from runs import learned
from store import adjudication, categories, discussion, review, suggestions, writes
from ui import auth, cached, diff, filters, layout, session, shell, teams
from ui import review_state as keys
from ui.badges import expected_badge
from ui.display import (
    escape_markdown,
    guideline,
    inert_markdown,
    needs_content_warning,
    show_text,
)
from ui.response_card import (
    Actions,
    View,
    comment_key,
    response_card,
    summary_line,
    tags_key,
)
from ui.review_state import ReviewState
from words import count

shell.require_shell()
layout.review_page()
ss = st.session_state
db = session.db()
state = ReviewState.get()
progress_slot = st.sidebar.empty()  # redrawn after each label (labelling() below)
selection = filters.sidebar("review")
filters.keep_state("review", keys.PAGE_KEYS)
with st.sidebar.expander("Team queue", icon=":material/groups:"):
    queue = st.toggle("Queue mode", key=keys.QUEUE_MODE,
                      help="Hands you the next response you have not labelled, from the current filter.")
    overlap = st.number_input("Reviewers per response (k)", 1, 20, key=keys.OVERLAP,
                              help="Only responses with fewer than k human labels are handed out.")
    blind = st.toggle("Blind labelling", key=keys.BLIND,
                      help="Hide the judges and other reviewers until you have labelled a response.")
    informative = st.toggle("Most informative first", key=keys.INFORMATIVE,
                            help="Hands out suggested batches: random samples that favour the responses the "
                                 "learned judge is least sure of, spread over models and categories, drawn with "
                                 "known probabilities so corrected figures stay unbiased (Results: active).")
    if informative:
        st.button("Draw the next 50", key="rv_draw", icon=":material/casino:", on_click=lambda: draw_batch(50),
                  disabled=auth.why_not("reviewer") is not None,
                  help="`python cli.py suggest --n 50` draws the same way from the command line.")
    sample = st.toggle("Random sample order", key=keys.SAMPLE, disabled=informative,
                       help="Seeded uniform random order: what you label is a simple random sample "
                            "of the filter (needed for prediction-powered estimates).")
    sample_seed = st.number_input("Sample seed", 0, key=keys.SAMPLE_SEED, step=1) if sample else 0
with st.sidebar.expander("Display", icon=":material/visibility:"):
    ss.setdefault(keys.HIDE_SENSITIVE, True)
    st.toggle("Hide sensitive content until clicked", key=keys.HIDE_SENSITIVE)
    st.toggle("Show exact characters (no markdown)", key=keys.PLAIN)
me = session.reviewer()
queue_settings = (int(overlap), bool(sample), int(sample_seed), bool(informative)) if queue else None


def draw_batch(n: int) -> None:
    """Draw and record the next suggested batch from the filter (the same call as ``cli.py suggest``)."""
    try:
        batch = learned.suggest(session.db(), selection, n, actor=session.reviewer())
    except UserError as exc:
        state.flash("error", f"No batch drawn: {exc}")
        return
    state.flash("info", f"Batch {batch['batch'].iloc[0]} drawn: {len(batch)} responses, "
                        f"{int((~batch['labelled']).sum())} to label.")
    state.queue_key = None  # hand out from the new batch


def save_and_next() -> None:
    """Labels are already saved; a note typed after labelling is saved here, then on to the next."""
    name = session.reviewer()
    item = review.fetch_item(session.db(), state.prompt) if name and state.prompt is not None else None
    for r in item.responses if item else []:
        note = (ss.get(keys.note_key(r.id)) or "").strip()
        mine = r.current.get(name)
        if mine and note and note != (mine.note or ""):
            try:
                writes.add_annotation(session.db(), r.id, name, mine.label, note)
            except UserError as exc:
                state.flash("error", f"Note not saved: {exc}")
                return
    passed_over = tuple(r.id for r in item.responses if name not in r.current) if item else ()
    state.next_item(session.db(), selection, name, queue_settings, passed_over)


def stop() -> None:
    """End the page before the responses: their part (labelling() below) draws the progress."""
    filters.progress(selection, progress_slot.container())
    st.stop()


def queue_line() -> str:
    if informative:  # not cached: drawing a batch does not change the store's change token
        return (f"**Queue** · most informative first · {suggestions.suggested_left(session.db(), selection):,} "
                "suggested responses left to label")
    return f"**Queue** · {count(cached.queue_left(selection, me, int(overlap)), 'response')} left for you (k = {int(overlap)})"


def label(response_id: int, value: str) -> None:
    name = session.reviewer()
    try:
        writes.add_annotation(session.db(), response_id, name, value,
                              (ss.get(keys.note_key(response_id)) or "").strip() or None)
    except UserError as exc:  # bad label, role refused, read-only file
        state.flash("error", f"Not saved: {exc}")
        return
    item = review.fetch_item(session.db(), state.prompt, selection.model)
    model = next((r.model for r in item.responses if r.id == response_id), "") if item else ""
    state.report_saved(value, escape_markdown(cached.shown_as("model")(model)) if model else "")
    if item:
        state.after_label([r.id for r in item.responses], {r.id for r in item.responses if name not in r.current},
                          response_id)


def undo() -> None:
    try:
        state.undo_on_prompt(session.db(), session.reviewer(), cached.names()["model"])
    except UserError as exc:
        state.flash("error", f"Not undone: {exc}")


def _team_write(what: str, write, *args) -> None:
    """A tag, comment or final label: written as the reviewer, a refusal said where it happened."""
    try:
        write(session.db(), *args)
    except UserError as exc:
        state.flash("error", f"{what} not saved: {exc}")


def flag(response_id: int) -> None:
    _team_write("Flag", discussion.toggle_tag, response_id, discussion.FLAG, session.reviewer())


def save_tags(response_id: int) -> None:
    _team_write("Tags", discussion.set_tags, response_id, ss.get(tags_key(response_id)) or [], session.reviewer())


def add_comment(response_id: int) -> None:
    body = ss.get(comment_key(response_id)) or ""
    if body.strip():
        _team_write("Comment", discussion.add_comment, response_id, session.reviewer(), body)
    ss[comment_key(response_id)] = ""


def adjudicate(response_id: int, value: str | None) -> None:
    _team_write("Final label", adjudication.adjudicate, response_id, value, session.reviewer())


# --- which item is open ------------------------------------------------------------------------
state.resolve(db, selection, st.query_params.get("prompt"), st.query_params.get("dataset", ""), me,
              queue_settings, link_model=st.query_params.get("model", ""))
flashes = state.take_flashes()
if flashes:
    with st.container(key="rv_flash"):  # ui/layout.py shortens the response boxes while a message shows
        for kind, text in flashes:
            getattr(st, kind)(text)

blocked = auth.explain_labelling()
if queue and me is None:
    stop()

item = review.fetch_item(db, state.prompt, selection.model) if state.prompt is not None else None
if item is None:
    st.info("Nothing to review in this filter. Widen the filter, import data with `python cli.py import`, or "
            "collect responses on the Run page.", icon=":material/filter_alt_off:")
    stop()

can_label = me is not None and not blocked

# --- navigation --------------------------------------------------------------------------------
with st.container(horizontal=True, vertical_alignment="center"):
    if queue:
        st.button("Back", icon=":material/chevron_left:", key="rv_queue_back", shortcut="P",
                  on_click=state.queue_back, disabled=not state.visited)
        queue_slot = st.empty()  # drawn by labelling() below, again after each label
    else:
        total = cached.count_items(selection)
        inside = cached.contains(selection, item.prompt_id)
        position = cached.position(selection, item.prompt_id) + 1 if inside else None
        st.button("Previous", icon=":material/chevron_left:", key="rv_prev", shortcut="P",
                  on_click=lambda: state.step(session.db(), selection, -1))
        st.markdown(f"Item **{position or '—'}** of **{total:,}**" + ("" if inside else " · *outside the filter*"))
        st.button("Next", icon=":material/chevron_right:", key="rv_next",
                  on_click=lambda: state.step(session.db(), selection, 1))
        state.sync_jump(item.prompt_id, position, total)
        st.number_input("Go to item", 1, max(total, 1), key=keys.JUMP, label_visibility="collapsed", width=110)
        st.button("Go", key="rv_go", on_click=lambda: state.jump(session.db(), selection, int(ss[keys.JUMP])))
    # Labels save at once; this saves a late note and moves on. It only looks like the main action
    # when there is something to save.
    st.button("Save and next" if can_label else "Next item", icon=":material/done_all:",
              type="primary" if can_label else "secondary", key="rv_save_next", shortcut="N",
              on_click=save_and_next)

# --- the prompt --------------------------------------------------------------------------------
hidden = (ss[keys.HIDE_SENSITIVE] and item.prompt_id not in state.revealed
          and needs_content_warning(item.dataset, item.split, item.category, item.subcategory, item.expected,
                                    item.team_categories))
where = " › ".join(escape_markdown(x) for x in (item.dataset, item.category, item.subcategory) if x)
source_id = item.source_id.replace("`", "'")  # shown in a code span, which nothing else can break
st.markdown(f"{expected_badge(item.expected)} {where} · prompt `{source_id}`")
marks = cached.search_matches(selection.search, item.prompt_id, tuple(r.id for r in item.responses)) \
    if selection.search and not hidden else {}
rule = item.rubric or guideline(item.category, item.expected)
with st.container(border=True, gap=None):
    with st.container(key="rv_prompt"):
        if hidden:
            st.warning("This prompt is in a sensitive category; it and its responses are hidden.",
                       icon=":material/visibility_off:")
            st.button("Show content", key="rv_reveal", icon=":material/visibility:",
                      on_click=lambda: state.revealed.add(item.prompt_id))
        else:
            show_text(item.text, ss.get(keys.PLAIN, False), marks.get("prompt", ()))
    if rule:
        with st.container(key="rv_guideline"):
            st.caption(":material/gavel: " + inert_markdown(rule))

# --- the responses -----------------------------------------------------------------------------
if not item.responses:
    st.info("No responses to this prompt yet" + (f" from {escape_markdown(selection.model)}." if selection.model
                                                 else ": collect them on the Run page (Generate)."))
    stop()
shown_names = cached.names()
view = View(me=me, can_label=can_label, can_adjudicate=auth.why_not("admin") is None,
            blind=bool(queue and blind), hide_text=hidden, plain=ss.get(keys.PLAIN, False), names=shown_names,
            marks=marks, vocabulary=cached.vocabulary())
names = {r.id: view.model(r.model) + (f" ({r.side})" if r.side else "") for r in item.responses}
actions = Actions(label=label, flag=flag, tags=save_tags, comment=add_comment, adjudicate=adjudicate)


@st.fragment
def labelling() -> None:
    """The keyboard focus, Undo and the responses with their buttons. A label (or flag, tag, comment,
    final label) reruns only this part: the rest of the page does not change, and redrawing it made
    a key press cost several times more in the browser. What a label changes elsewhere (the
    sidebar's progress, the queue's count) is drawn from here into its slot. A message box (a
    refused write) is drawn above the item, so one reruns the whole page."""
    shown_item = review.fetch_item(session.db(), state.prompt, selection.model)
    if shown_item is None or shown_item.prompt_id != item.prompt_id or state.flashes:
        st.rerun()
    state.place_focus(shown_item, me)
    sync_url(shown_item)
    filters.progress(selection, progress_slot.container())  # the counts a label changes, outside this part
    if queue:
        queue_slot.markdown(queue_line())
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.markdown("**Keyboard focus**", help="Keys 1 · 2 · 3 label the focused response (then the focus moves to "
                    "the next one you have not labelled), U undoes your last label on this prompt, N saves and "
                    "moves on, P goes back.", width="content")
        st.radio("Keyboard focus", list(names), key=keys.FOCUS, format_func=names.get, horizontal=True,
                 label_visibility="collapsed", width="content")
        mine_here = me is not None and any(a.annotator == me for r in shown_item.responses for a in r.history)
        st.button("Undo", key="rv_undo", icon=":material/undo:", shortcut="U", on_click=undo, type="tertiary",
                  disabled=not mine_here or bool(blocked), help="Undo my last label on this prompt, whichever response")
        said = state.take_said()  # what the last label or undo did: beside the keyboard focus, this run only
        if said:
            with st.container(key="rv_said"):  # one line (ui/layout.py): nothing moves when it shows
                st.markdown(said)
    if len(shown_item.responses) <= 3:
        shown = shown_item.responses
    else:  # more models than fit: the focused response beside a chosen one, then a summary of all
        others = [r.id for r in shown_item.responses if r.id != state.focus]
        if ss.get(keys.COMPARE) not in others:
            ss[keys.COMPARE] = others[0]
        st.selectbox("Compare with", others, key=keys.COMPARE, format_func=names.get, width=300)
        shown = [next(r for r in shown_item.responses if r.id == state.focus),
                 next(r for r in shown_item.responses if r.id == ss[keys.COMPARE])]
    for col, response in zip(st.columns(len(shown)), shown):
        with col:
            response_card(response, view, response.id == state.focus, actions)
    if len(shown) < len(shown_item.responses):  # below the cards: the focused one's buttons stay on screen
        with st.container(border=True):
            st.caption(f"All {len(shown_item.responses)} responses")
            for r in shown_item.responses:
                st.markdown(summary_line(r, view))


def sync_url(shown_item: review.Item) -> None:
    """The URL names the open item and the focused response's model (a copied link reopens both)."""
    params = {"prompt": shown_item.source_id, "dataset": shown_item.dataset}
    focused = next((r for r in shown_item.responses if r.id == state.focus), None)
    if focused:
        params["model"] = focused.model
    here = {k: v for k, v in st.query_params.to_dict().items() if not k.startswith(filters.URL_PREFIX)}
    if here != params:
        for key in set(here) - set(params):
            del st.query_params[key]
        st.query_params.update(params)
    state.url = shown_item.source_id


labelling()

# --- reading aids and team work ------------------------------------------------------------------
if len(item.responses) >= 2 and not hidden:
    with st.expander("Word-level diff of two responses", icon=":material/difference:"):
        diff.pick_and_show(item.responses, names, ss.get(keys.PLAIN, False))
with st.expander("Team categories and showcases", icon=":material/category:"):
    left, right = st.columns(2)
    with left:
        teams.category_picker(db, item.prompt_id, me)
        team_names = categories.names(db)
        if team_names:
            in_selection = cached.prompt_ids(selection)
            target = st.selectbox("Assign every prompt in the current filter to", team_names, key="rv_bulk_target")
            if st.button(f"Assign {count(len(in_selection), 'prompt')}", key="rv_bulk_assign", disabled=bool(blocked),
                         icon=":material/playlist_add:"):
                ok, added = auth.attempt(categories.assign, db, me, target, in_selection)
                if ok:
                    st.success(f"{count(added, 'prompt')} newly assigned to {escape_markdown(target)}.")
    with right:
        teams.add_to_showcase(db, item.prompt_id, [r.id for r in item.responses], me)

"""One response on the review page: its text, the judges' verdicts (rationale one click away), the
human labels so far, the label buttons, and (one click away) the note, tags, discussion, the
adjudicator's final label and the label history.

Layout: at 1280 x 800 the verdicts and the buttons of every response are on screen without
scrolling, so a long text scrolls inside its card (the ``rv_text_*`` box, ui/layout.py) and what
is read less often sits in the card's "More" expander.

Keyboard: only the *focused* response's label buttons carry the shortcuts 1 / 2 / 3, so one key
press always means one response; labelling moves the focus on (ui/review_state.py). Clicking a
button labels that response whatever the focus. The buttons call back into ``actions``
(pages/review.py), which write through the store.
"""

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import streamlit as st

from analysis import humans
from labels import LABELS
from store.discussion import FLAG
from store.review import Response
from ui.badges import SHORT, badge, label_text
from ui.display import escape_markdown, inert_markdown, show_text, when

KEYS = {label: str(i) for i, label in enumerate(LABELS, start=1)}  # full_compliance=1, partial=2, refusal=3
# A judge's verdict differs from the human reference: a badge short enough to share a line with a
# reviewer's badge in a third of the page, so it never pushes the label buttons down a line.
DISAGREE = ":orange-badge[:material/warning: judge ≠ human]"


@dataclass
class Actions:
    label: Callable[[int, str], None]
    flag: Callable[[int], None] | None = None
    tags: Callable[[int], None] | None = None  # saves the tag box ``tags_key(id)``
    comment: Callable[[int], None] | None = None  # saves the comment box ``comment_key(id)``
    adjudicate: Callable[[int, str | None], None] | None = None


@dataclass
class View:
    """What the page knows that a card shows differently by."""
    me: str | None
    can_label: bool
    can_adjudicate: bool = False
    blind: bool = False
    hide_text: bool = False
    plain: bool = False
    names: dict = field(default_factory=lambda: {"judge": {}, "model": {}})  # stored -> display (store.names)
    marks: dict = field(default_factory=dict)  # str(response id) -> words the search matched
    vocabulary: list = field(default_factory=list)  # the team's tags so far

    def judge(self, name: str) -> str:
        return self.names["judge"].get(name, name)

    def model(self, name: str) -> str:
        return self.names["model"].get(name, name)


def tags_key(response_id: int) -> str:
    return f"rv_tags_{response_id}"


def comment_key(response_id: int) -> str:
    return f"rv_comment_{response_id}"


def tied(response: Response) -> bool:
    """The humans' labels tie (analysis.humans.reference's rule), so only an adjudicator can settle it."""
    votes = pd.DataFrame([{"response_id": response.id, "annotator": a, "label": x.label}
                          for a, x in response.current.items()], columns=["response_id", "annotator", "label"])
    ref = humans.reference(votes)
    return bool(len(ref) and ref["tie"].iloc[0])


def _verdicts_and_labels(response: Response, view: View, actions: Actions) -> None:
    """One row: each judge's badge (click for the rationale), each human's, the final label, and
    the flag for discussion."""
    with st.container(horizontal=True, gap="xsmall", vertical_alignment="center"):
        if not response.verdicts:
            st.caption("No judge verdicts yet.")
        for v in response.verdicts:
            with st.popover(badge(v.label, view.judge(v.judge)), help="Show the judge's rationale"):
                st.markdown(f"**{escape_markdown(view.judge(v.judge))}** says {badge(v.label)}")
                show_text(v.rationale or "(the judge gave no rationale)")
        parts = [badge(a.label, name) + (f" *{inert_markdown(a.note)}*" if a.note else "")
                 for name, a in response.current.items()] or [":gray-badge[:material/hourglass_empty: not reviewed yet]"]
        if response.final:
            parts.append(f":violet-badge[:material/gavel: final: {label_text(response.final.label)}]")
        if response.judge_human_disagree():
            parts.append(DISAGREE)
        st.markdown(" ".join(parts), width="content")
        if actions.flag:
            flagged = FLAG in response.tags
            st.button("Flagged" if flagged else "Flag", key=f"rv_flag_{response.id}", type="tertiary",
                      icon=":material/flag:", disabled=not view.can_label, on_click=actions.flag, args=(response.id,),
                      help="Take the flag off" if flagged else "Flag for discussion: tags it "
                                                               f"'{FLAG}', which the filter can find")


def _controls(response: Response, view: View, focused: bool, actions: Actions) -> None:
    mine = response.current.get(view.me) if view.me else None
    with st.container(horizontal=True, gap="xsmall"):
        for label in LABELS:
            st.button(SHORT[label], key=f"rv_label_{response.id}_{label}", help=label_text(label),
                      type="primary" if mine and mine.label == label else "secondary",
                      icon=":material/check:" if mine and mine.label == label else None,
                      shortcut=KEYS[label] if focused else None, disabled=not view.can_label,
                      on_click=actions.label, args=(response.id, label))


PANEL = "Note · tags · discussion · history"


def more_key(response_id: int) -> str:
    return f"rv_more_{response_id}"


def _more(response: Response, view: View, actions: Actions) -> None:
    """The note, tags, discussion, final label and history: one click away. Only the note is drawn
    while the panel is closed (a note typed before labelling must survive closing it): the rest is
    drawn when it opens, so a key press does not redraw every response's history and discussion."""
    # A constant title: Streamlit tells expanders apart by their label, so a count in it (a comment
    # posted, a label added) would close the panel; the counts show in the card's heading instead.
    more = st.expander(PANEL, icon=":material/more_horiz:", key=more_key(response.id), on_change="rerun")
    with more:
        st.text_input("Note (optional)", key=f"rv_note_{response.id}", placeholder="why? (saved with the label)",
                      label_visibility="collapsed")
        if not more.open:
            return
        if actions.tags:
            key = tags_key(response.id)
            st.session_state[key] = list(response.tags)
            st.multiselect("Tags", sorted(set(view.vocabulary) | set(response.tags)), key=key,
                           accept_new_options=True, disabled=not view.can_label, on_change=actions.tags,
                           args=(response.id,), placeholder="add a tag (type a new one and press Enter)")
        _discussion(response, view, actions)
        _adjudication(response, view, actions)
        st.markdown("**History**")
        if not response.history:
            st.caption("No labels yet.")
        for a in reversed(response.history):
            what = f"undo of #{a.undoes} → {label_text(a.label)}" if a.undoes else label_text(a.label)
            note = f" · *{inert_markdown(a.note)}*" if a.note and not a.undoes else ""
            st.markdown(f"#{a.id} · {when(a.created_at)} · **{escape_markdown(a.annotator)}** · {what}{note}")


def _discussion(response: Response, view: View, actions: Actions) -> None:
    for c in response.comments:
        st.markdown(f":material/chat_bubble: **{escape_markdown(c.author)}** · {when(c.created_at)}")
        show_text(c.body, view.plain)
    if actions.comment:
        st.text_input("Add to the discussion", key=comment_key(response.id), disabled=not view.can_label,
                      on_change=actions.comment, args=(response.id,), placeholder="comment, then Enter")


def _adjudication(response: Response, view: View, actions: Actions) -> None:
    if response.final:
        f = response.final
        st.markdown(f":violet-badge[:material/gavel: final label: {label_text(f.label)}] by "
                    f"**{escape_markdown(f.adjudicator)}** · {when(f.created_at)}"
                    + (f" · *{inert_markdown(f.note)}*" if f.note else ""))
    elif tied(response):
        st.markdown(":violet[:material/balance: The human labels tie: this response counts in no figure until an "
                    "adjudicator (admin) gives the final label.]")
    else:
        return
    if not (view.can_adjudicate and actions.adjudicate):
        return
    with st.container(horizontal=True, gap="small"):
        for label in LABELS:
            st.button(f"Final: {SHORT[label]}", key=f"rv_final_{response.id}_{label}", type="tertiary",
                      icon=":material/gavel:", on_click=actions.adjudicate, args=(response.id, label))
        if response.final:
            st.button("Withdraw the final label", key=f"rv_final_{response.id}_none", type="tertiary",
                      on_click=actions.adjudicate, args=(response.id, None))


def response_card(response: Response, view: View, focused: bool, actions: Actions) -> None:
    with st.container(border=True, key=f"rv_card_{response.id}", gap="xsmall"):
        head = f"#### {escape_markdown(view.model(response.model))}"
        if response.side:
            head += f" :gray-badge[{escape_markdown(response.side)}]"
        if focused:
            head += " :blue-badge[:material/keyboard: keys 1 · 2 · 3]"
        head += "".join(f" :orange-badge[:material/flag: {escape_markdown(t)}]" if t == FLAG
                        else f" :gray-badge[{escape_markdown(t)}]" for t in response.tags)
        if response.comments:
            head += f" :gray-badge[:material/chat_bubble: {len(response.comments)}]"
        if tied(response) and not response.final:
            head += " :violet-badge[:material/balance: humans tie]"
        st.markdown(head)
        with st.container(key=f"rv_text_{response.id}"):
            if view.hide_text:
                st.caption(":material/visibility_off: Sensitive content hidden.")
            else:
                show_text(response.text, view.plain, view.marks.get(str(response.id), ()))
        if view.blind and not (view.me and view.me in response.current):
            st.caption(":material/visibility_off: Blind labelling: judges and other reviewers are hidden "
                       "until you have labelled this response.")
        else:
            _verdicts_and_labels(response, view, actions)
        _controls(response, view, focused, actions)
        if not view.blind or (view.me and view.me in response.current):
            _more(response, view, actions)
        else:
            st.text_input("Note (optional)", key=f"rv_note_{response.id}", placeholder="why? (saved with the label)",
                          label_visibility="collapsed")


def summary_line(response: Response, view: View) -> str:
    """One markdown line per response, for items with more models than fit side by side."""
    head = f"**{escape_markdown(view.model(response.model))}**"
    if view.blind and not (view.me and view.me in response.current):
        return f"{head} · *hidden until you label it*"
    judges = " ".join(badge(v.label, view.judge(v.judge)) for v in response.verdicts) or "no verdicts"
    people = " ".join(badge(a.label, name) for name, a in response.current.items()) or \
        ":gray-badge[not reviewed yet]"
    warn = f" {DISAGREE}" if response.judge_human_disagree() else ""
    return f"{head} · {judges} · {people}{warn}"

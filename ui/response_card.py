"""One response on the review page: its text, the judges' verdicts (rationale one click away), the
human labels so far, and the override controls.

Keyboard: only the *focused* response's label buttons carry the shortcuts 1 / 2 / 3, so one key
press always means one response; labelling moves the focus on (ui/review_state.py). Clicking a
button labels that response whatever the focus. The buttons call back into ``actions``
(pages/review.py), which write through store.writes.
"""

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from labels import LABELS
from store.review import Response
from ui.badges import SHORT, badge, label_text
from ui.display import escape_markdown, inert_markdown, show_text

KEYS = {label: str(i) for i, label in enumerate(LABELS, start=1)}  # full_compliance=1, partial=2, refusal=3


@dataclass
class Actions:
    label: Callable[[int, str], None]


def _when(created_at: str) -> str:
    return created_at[:16].replace("T", " ")


def _verdicts(response: Response) -> None:
    if not response.verdicts:
        st.caption("No judge verdicts yet.")
        return
    with st.container(horizontal=True, gap="small"):
        for v in response.verdicts:
            with st.popover(badge(v.label, v.judge), help="Show the judge's rationale"):
                st.markdown(f"**{escape_markdown(v.judge)}** says {badge(v.label)}")
                show_text(v.rationale or "(the judge gave no rationale)")


def _humans(response: Response) -> None:
    current = response.current
    if not current:
        st.markdown(":gray-badge[:material/hourglass_empty: not reviewed yet]")
        return
    for name, a in current.items():
        note = f" · *{inert_markdown(a.note)}*" if a.note else ""
        st.markdown(f"{badge(a.label, name)} {_when(a.created_at)}{note}")
    if response.judge_human_disagree():
        st.markdown(":orange[:material/warning: **judge and human disagree**]")


def _history(response: Response) -> None:
    with st.expander(f"History ({len(response.history)})", icon=":material/history:"):
        if not response.history:
            st.caption("No labels yet.")
        for a in reversed(response.history):
            what = f"undo of #{a.undoes} → {label_text(a.label)}" if a.undoes else label_text(a.label)
            note = f" · *{inert_markdown(a.note)}*" if a.note and not a.undoes else ""
            st.markdown(f"#{a.id} · {_when(a.created_at)} · **{escape_markdown(a.annotator)}** · {what}{note}")


def _controls(response: Response, me: str | None, focused: bool, can_label: bool, actions: Actions) -> None:
    mine = response.current.get(me) if me else None
    with st.container(horizontal=True, gap="small"):
        for label in LABELS:
            st.button(SHORT[label], key=f"rv_label_{response.id}_{label}", help=label_text(label),
                      type="primary" if mine and mine.label == label else "secondary",
                      icon=":material/check:" if mine and mine.label == label else None,
                      shortcut=KEYS[label] if focused else None, disabled=not can_label,
                      on_click=actions.label, args=(response.id, label))
    st.text_input("Note (optional)", key=f"rv_note_{response.id}", placeholder="why? (saved with the label)",
                  label_visibility="collapsed")


def response_card(response: Response, me: str | None, can_label: bool, focused: bool, blind: bool,
                  hide_text: bool, plain: bool, actions: Actions) -> None:
    with st.container(border=True):
        head = f"#### {escape_markdown(response.model)}"
        if focused:
            head += " :blue-badge[:material/keyboard: keys 1 · 2 · 3]"
        st.markdown(head)
        if hide_text:
            st.caption(":material/visibility_off: Sensitive content hidden.")
        else:
            show_text(response.text, plain)
        st.divider()
        if blind and not (me and me in response.current):
            st.caption(":material/visibility_off: Blind labelling: judges and other reviewers are hidden "
                       "until you have labelled this response.")
        else:
            _verdicts(response)
            _humans(response)
        _controls(response, me, focused, can_label, actions)
        if not blind or (me and me in response.current):
            _history(response)


def summary_line(response: Response, me: str | None, blind: bool) -> str:
    """One markdown line per response, for items with more models than fit side by side."""
    head = f"**{escape_markdown(response.model)}**"
    if blind and not (me and me in response.current):
        return f"{head} · *hidden until you label it*"
    judges = " ".join(badge(v.label, v.judge) for v in response.verdicts) or "no verdicts"
    humans = " ".join(badge(a.label, name) for name, a in response.current.items()) or \
        ":gray-badge[not reviewed yet]"
    warn = " :orange[:material/warning: disagree]" if response.judge_human_disagree() else ""
    return f"{head} · {judges} · {humans}{warn}"

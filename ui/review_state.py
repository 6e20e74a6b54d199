"""The Review page's state and the rules that move it: which item is open, which response has the
keyboard focus, the team queue, flash messages. pages/review.py only draws; the Browse page opens
an item through ``ReviewState.open``, never by writing another page's keys. The rules it shares with
the Prompt review page (deep links, the queue, next and back, messages) are ``ui.item_state``'s.

Every session key the review workspace uses is named here. The widget keys (``rv_*``) must stay
session keys because Streamlit widgets own their values; everything else lives in one
``ReviewState`` object under ``STATE``.

Focus rules (what a reviewer labelling with the keyboard relies on): an item opens focused on the
first response this reviewer has not labelled (in queue mode: the response handed out); a label
moves the focus to the next such response (wrapping round), or stays put when every response has
the reviewer's label; ``U`` undoes the reviewer's last label on the open prompt, whichever
response it was on.
"""

from dataclasses import dataclass
from typing import ClassVar

import streamlit as st

from store import review, suggestions, writes
from store.selection import Selection
from ui.display import escape_markdown
from ui.item_state import ItemState

STATE = "rv_state"
FOCUS = "rv_focus"  # the focus radio
QUEUE_MODE, OVERLAP, BLIND = "rv_queue_mode", "rv_overlap", "rv_blind"
SAMPLE, SAMPLE_SEED, INFORMATIVE = "rv_sample", "rv_sample_seed", "rv_informative"
HIDE_SENSITIVE, PLAIN = "rv_hide_sensitive", "rv_plain"
JUMP, COMPARE, NAME = "rv_jump", "rv_compare", "rv_name"
PAGE_KEYS = (QUEUE_MODE, OVERLAP, BLIND, SAMPLE, SAMPLE_SEED, INFORMATIVE, HIDE_SENSITIVE, PLAIN)  # kept across pages


def note_key(response_id: int) -> str:
    return f"rv_note_{response_id}"


@dataclass
class ReviewState(ItemState):
    """The Review page: its items are prompts with their responses, its view a ``Selection``, and the
    team queue hands out one response (opened focused); ``skipped`` holds response ids."""
    STATE: ClassVar[str] = STATE
    NOUN: ClassVar[str] = "item"

    focus: int | None = None  # the response the keys act on
    jump_for: int | None = None  # the item the Go-to box last showed the position of

    # -- opening items -----------------------------------------------------------------------------
    def open(self, prompt_id: int | None, focus: int | None = None) -> None:
        """Open an item; ``focus`` None means the first response the reviewer has not labelled."""
        self.prompt, self.focus = prompt_id, focus
        st.session_state.pop(FOCUS, None)  # the radio takes the new focus on the next draw

    def _here(self) -> tuple:
        return self.prompt, self.focus

    def _neighbour(self, db, view: Selection, prompt_id: int, direction: int) -> int | None:
        return review.neighbour(db, view, prompt_id, direction)

    def _contains(self, db, view: Selection, prompt_id: int) -> bool:
        return review.contains(db, view, prompt_id)

    def _first(self, db, view: Selection) -> int | None:
        return next(iter(review.item_ids(db, view, 0, 1)), None)

    def _link(self, db, prompt_id: int, link_model: str) -> tuple:
        """A deep link naming a model opens focused on that model's response."""
        item = review.fetch_item(db, prompt_id, link_model) if link_model else None
        return prompt_id, item.responses[0].id if item and item.responses else None

    def _queue_next(self, db, view: Selection, reviewer: str, queue: tuple) -> tuple | None:
        """The next response for ``reviewer``; ``queue`` = (overlap, random sample, seed, most
        informative first). Most informative first walks the suggested batches (store.suggestions)."""
        overlap, sample, seed, informative = queue
        if informative:
            return suggestions.next_suggested(db, view, reviewer, self.skipped)
        return review.queue_next(db, view, reviewer, overlap, sample, seed, self.skipped)

    def _queue_empty(self, queue: tuple) -> str:
        if queue[3]:
            return "No suggested response is left in this filter: draw the next batch (Team queue)."
        return "The queue is empty for you: every response in this filter has its reviewers."

    def place_focus(self, item: review.Item, reviewer: str | None) -> None:
        """Settle the focus for ``item`` as drawn: keep a focus that is on it, else the first response
        the reviewer has not labelled, else the first response."""
        ids = [r.id for r in item.responses]
        chosen = st.session_state.get(FOCUS)
        if chosen in ids:
            self.focus = chosen
        if self.focus not in ids:
            self.focus = next((r.id for r in item.responses if reviewer not in r.current), ids[0] if ids else None)
        st.session_state[FOCUS] = self.focus

    def sync_jump(self, prompt_id: int, position: int | None, total: int) -> None:
        """The Go-to box shows the open item's number whenever another item opens (a number typed
        but not yet sent with Go stays), and never more than the filter holds."""
        if self.jump_for != prompt_id and position is not None:
            st.session_state[JUMP] = position
        self.jump_for = prompt_id
        st.session_state[JUMP] = min(max(int(st.session_state.get(JUMP) or 1), 1), max(total, 1))

    def jump(self, db, selection: Selection, number: int) -> None:
        ids = review.item_ids(db, selection, number - 1, 1)
        if ids:
            self.open(ids[0])
        else:
            self.flash("warning", f"There is no item {number:,} in this filter.")

    # -- labelling -----------------------------------------------------------------------------------
    def after_label(self, item_responses: list[int], unlabelled: set[int], response_id: int) -> None:
        """Move the focus to the next response (after ``response_id``, wrapping round) the reviewer
        has not labelled; stay when there is none."""
        if response_id not in item_responses:
            return
        start = item_responses.index(response_id)
        order = item_responses[start + 1:] + item_responses[:start]
        self.focus = next((rid for rid in order if rid in unlabelled), response_id)
        st.session_state[FOCUS] = self.focus

    def undo_on_prompt(self, db, reviewer: str, shown: dict[str, str] | None = None) -> None:
        """``U``: undo the reviewer's last label on the open prompt, and say what was undone
        (naming the model as ``shown`` displays it)."""
        done = writes.undo_last_on_prompt(db, self.prompt, reviewer)
        if done is None:
            self.report_undo(None, None)
            return
        response_id, model, undone, restored = done
        self.focus = response_id
        st.session_state[FOCUS] = response_id
        self.report_undo(undone, restored, on=escape_markdown((shown or {}).get(model, model)))

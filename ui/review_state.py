"""The Review page's state and the rules that move it: which item is open, which response has the
keyboard focus, the team queue, flash messages. pages/review.py only draws; the Browse page opens
an item through ``ReviewState.open``, never by writing another page's keys.

Every session key the review workspace uses is named here. The widget keys (``rv_*``) must stay
session keys because Streamlit widgets own their values; everything else lives in one
``ReviewState`` object under ``STATE``.

Focus rules (what a reviewer labelling with the keyboard relies on): an item opens focused on the
first response this reviewer has not labelled (in queue mode: the response handed out); a label
moves the focus to the next such response (wrapping round), or stays put when every response has
the reviewer's label; ``U`` undoes the reviewer's last label on the open prompt, whichever
response it was on.
"""

from dataclasses import dataclass, field

import streamlit as st

from store import review, suggestions, writes
from store.selection import Selection
from ui import display
from ui.badges import label_text
from ui.display import inert_markdown

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
class ReviewState:
    prompt: int | None = None  # the open item
    focus: int | None = None  # the response the keys act on
    url: str | None = None  # the ?prompt= this session last wrote: a different one is a deep link
    last_selection: Selection | None = None
    queue_key: tuple | None = None  # the queue settings the open queue item was taken under
    skipped: tuple[int, ...] = ()  # responses passed over in queue mode (not handed out again)
    visited: list[tuple[int, int | None]] = field(default_factory=list)  # queue items, for "Back"
    revealed: set[int] = field(default_factory=set)  # sensitive prompts the reviewer chose to show
    jump_for: int | None = None  # the item the Go-to box last showed the position of
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def get(cls) -> "ReviewState":
        if STATE not in st.session_state:
            st.session_state[STATE] = cls()
        return st.session_state[STATE]

    # -- messages ----------------------------------------------------------------------------------
    def flash(self, kind: str, text: str) -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        shown, self.flashes = self.flashes, []
        return shown

    # -- opening items -----------------------------------------------------------------------------
    def open(self, prompt_id: int | None, focus: int | None = None) -> None:
        """Open an item; ``focus`` None means the first response the reviewer has not labelled."""
        self.prompt, self.focus = prompt_id, focus
        st.session_state.pop(FOCUS, None)  # the radio takes the new focus on the next draw

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

    def step(self, db, selection: Selection, direction: int) -> None:
        if self.prompt is None:
            return
        nxt = review.neighbour(db, selection, self.prompt, direction)
        if nxt is None:
            self.flash("info", "That is the last item in this filter." if direction > 0 else "This is the first item.")
        else:
            self.open(nxt)

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

    # -- the team queue ------------------------------------------------------------------------------
    def take_from_queue(self, db, selection: Selection, reviewer: str, settings: tuple) -> None:
        """The next response for ``reviewer``; ``settings`` = (overlap, random sample, seed, most
        informative first). Most informative first walks the suggested batches (store.suggestions)."""
        overlap, sample, seed, informative = settings
        if informative:
            nxt = suggestions.next_suggested(db, selection, reviewer, self.skipped)
        else:
            nxt = review.queue_next(db, selection, reviewer, overlap, sample, seed, self.skipped)
        self.queue_key = (selection, reviewer, *settings)
        if nxt is None:
            self.flash("info", "No suggested response is left in this filter: draw the next batch (Team queue)."
                       if informative else
                       "The queue is empty for you: every response in this filter has its reviewers.")
            self.open(None)
            return
        if self.prompt is not None:
            self.visited.append((self.prompt, self.focus))
        self.open(*nxt)  # focused on the response handed out

    def queue_back(self) -> None:
        if not self.visited:
            self.flash("info", "This is the first item you were handed in this session.")
            return
        self.open(*self.visited.pop())

    def resolve(self, db, selection: Selection, link: str | None, link_dataset: str, link_model: str,
                reviewer: str | None, queue: tuple | None) -> None:
        """Which item is open after this rerun: a deep link the session did not write itself wins;
        in queue mode, a new queue when its settings changed; otherwise the open item while it is
        still in the selection, else the selection's first item."""
        if link and link != self.url:
            self.url = link
            found = review.find_prompt(db, link, link_dataset)
            if not found:
                self.flash("warning", f"No prompt with id {display.quote(link)} in this database.")
            else:
                item = review.fetch_item(db, found[0], link_model) if link_model else None
                self.open(found[0], item.responses[0].id if item and item.responses else None)
        elif queue is not None and reviewer and self.queue_key != (selection, reviewer, *queue):
            self.skipped, self.visited = (), []
            self.take_from_queue(db, selection, reviewer, queue)
        elif queue is None and (self.prompt is None or self.last_selection not in (None, selection)) \
                and not (self.prompt is not None and review.contains(db, selection, self.prompt)):
            first = review.item_ids(db, selection, 0, 1)
            self.open(first[0] if first else None)
        self.last_selection = selection

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
            self.flash("info", "Nothing of yours to undo on this prompt.")
            return
        response_id, model, undone, restored = done
        self.focus = response_id
        st.session_state[FOCUS] = response_id
        now = f"back to {label_text(restored)}" if restored else "now unlabelled"
        name = inert_markdown((shown or {}).get(model, model))
        self.flash("success", f"Undid your {label_text(undone)} on {name} ({now}).")

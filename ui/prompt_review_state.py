"""The Prompt review page's state and the rules that move it: which prompt is open, the team queue,
flash messages. pages/prompt_review.py only draws. Every session key the page uses is named here;
widget keys (``pr_*``) stay session keys because Streamlit widgets own their values.

The rules follow the Review page's (ui/review_state.py) with a prompt as the unit: a deep link
(``?prompt=<source_id>&dataset=...``) the session did not write itself wins; in queue mode a new
queue starts when its settings change, and ``N`` takes the next prompt the reviewer has not
labelled that fewer than k people have; otherwise the open prompt stays while it is in the
selection, else the selection's first prompt opens.
"""

from dataclasses import dataclass, field

import streamlit as st

from store import prompt_labels, review
from store.selection import Selection
from ui import display

STATE = "pr_state"
QUEUE_MODE, OVERLAP, BLIND = "pr_queue_mode", "pr_overlap", "pr_blind"
DATASET, CATEGORY, SEARCH, STATUS, ORDER, SEED = "pr_dataset", "pr_category", "pr_search", "pr_status", "pr_order", \
    "pr_seed"
HIDE_SENSITIVE = "pr_hide_sensitive"
PAGE_KEYS = (QUEUE_MODE, OVERLAP, BLIND, DATASET, CATEGORY, SEARCH, STATUS, ORDER, SEED, HIDE_SENSITIVE)


def category_key(prompt_id: int) -> str:
    return f"pr_category_{prompt_id}"


def note_key(prompt_id: int) -> str:
    return f"pr_note_{prompt_id}"


@dataclass
class PromptReviewState:
    prompt: int | None = None  # the open prompt
    url: str | None = None  # the ?prompt= this session last wrote: a different one is a deep link
    last_view: tuple | None = None  # (selection, status) the open prompt was chosen under
    queue_key: tuple | None = None
    skipped: tuple[int, ...] = ()  # prompts passed over in queue mode (not handed out again)
    visited: list[int] = field(default_factory=list)  # queue prompts, for "Back"
    revealed: set[int] = field(default_factory=set)
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def get(cls) -> "PromptReviewState":
        if STATE not in st.session_state:
            st.session_state[STATE] = cls()
        return st.session_state[STATE]

    def flash(self, kind: str, text: str) -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        shown, self.flashes = self.flashes, []
        return shown

    def open(self, prompt_id: int | None) -> None:
        self.prompt = prompt_id

    def step(self, db, selection: Selection, status: str, direction: int) -> None:
        if self.prompt is None:
            return
        nxt = prompt_labels.neighbour(db, selection, status, self.prompt, direction)
        if nxt is None:
            self.flash("info", "That is the last prompt in this filter." if direction > 0
                       else "This is the first prompt.")
        else:
            self.open(nxt)

    def take_from_queue(self, db, selection: Selection, status: str, reviewer: str, overlap: int) -> None:
        nxt = prompt_labels.queue_next(db, selection, status, reviewer, overlap, self.skipped)
        self.queue_key = (selection, status, reviewer, overlap)
        if nxt is None:
            self.flash("info", "The queue is empty for you: every prompt in this filter has its reviewers.")
            self.open(None)
            return
        if self.prompt is not None:
            self.visited.append(self.prompt)
        self.open(nxt)

    def queue_back(self) -> None:
        if not self.visited:
            self.flash("info", "This is the first prompt you were handed in this session.")
            return
        self.open(self.visited.pop())

    def next_after_label(self, db, selection: Selection, status: str, reviewer: str | None,
                         overlap: int | None, labelled: bool) -> None:
        """``N``: on to the next prompt: from the queue (a prompt passed over unlabelled is not
        handed out again this session), else the next in the filter."""
        if overlap is not None and reviewer:
            if not labelled and self.prompt is not None:
                self.skipped += (self.prompt,)
            self.take_from_queue(db, selection, status, reviewer, overlap)
        else:
            self.step(db, selection, status, 1)

    def resolve(self, db, selection: Selection, status: str, link: str | None, link_dataset: str,
                reviewer: str | None, overlap: int | None) -> None:
        """Which prompt is open after this rerun (see the module docstring)."""
        view = (selection, status)
        if link and link != self.url:
            self.url = link
            found = review.find_prompt(db, link, link_dataset)
            if not found:
                self.flash("warning", f"No prompt with id {display.quote(link)} in this database.")
            else:
                self.open(found[0])
        elif overlap is not None and reviewer and self.queue_key != (selection, status, reviewer, overlap):
            self.skipped, self.visited = (), []
            self.take_from_queue(db, selection, status, reviewer, overlap)
        elif overlap is None and (self.prompt is None or self.last_view not in (None, view)) \
                and not (self.prompt is not None and prompt_labels.contains(db, selection, status, self.prompt)):
            first = prompt_labels.prompt_ids(db, selection, status, 0, 1)
            self.open(first[0] if first else None)
        self.last_view = view

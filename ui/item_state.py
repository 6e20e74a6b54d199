"""The rules both labelling pages (Review: a prompt and its responses; Prompt review: a prompt) move
their open item by, written once: ``ReviewState`` and ``PromptReviewState`` subclass ``ItemState``
and say only what differs (which store functions list their items, what a queue hands out, what an
item opens focused on).

The rules: a deep link (``?prompt=<source_id>&dataset=...``) the session did not write itself wins;
in queue mode a new queue starts when its settings change, and "next" takes the next item the
queue hands this reviewer (what was passed over unlabelled is not handed out again this session);
otherwise the open item stays while it is in the filter, else the filter's first item opens.

Messages: what a label or undo key just did ("Saved: full refusal on aurora-7b", "Undid your ...")
is ``said``, one line the page draws (Review: beside the keyboard focus; Prompt review: in the top
bar) on the next run only, so a newer action or any other rerun (a filter change) replaces it: it
can never contradict what the page shows, and unlike a toast it covers nothing. Problems and
notices (a refused write, the end of the filter) wait in ``flashes``, drawn as boxes above the item.

A ``view`` is whatever the page lists its items by (a ``Selection``; for Prompt review a
``(Selection, status)`` pair), a ``queue`` the queue settings (None outside queue mode); the state
hands both to its subclass's hooks and compares them to notice a change.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import streamlit as st

from store import review
from ui import display
from ui.badges import label_text


@dataclass
class ItemState:
    STATE: ClassVar[str]  # the session key the page's state lives under
    NOUN: ClassVar[str]  # what the page calls its items in messages ("item", "prompt")

    prompt: int | None = None  # the open item
    url: str | None = None  # the ?prompt= this session last wrote: a different one is a deep link
    last_view: object = None  # the view the open item was chosen under
    queue_key: tuple | None = None  # (view, reviewer, queue) the open queue item was taken under
    skipped: tuple[int, ...] = ()  # passed over in queue mode (not handed out again)
    visited: list[tuple] = field(default_factory=list)  # queue items (``open`` arguments), for "Back"
    revealed: set[int] = field(default_factory=set)  # sensitive prompts the reviewer chose to show
    flashes: list[tuple[str, str]] = field(default_factory=list)
    said: str = ""  # markdown: what the reviewer's last label or undo did (module docstring)

    @classmethod
    def get(cls):
        if cls.STATE not in st.session_state:
            st.session_state[cls.STATE] = cls()
        return st.session_state[cls.STATE]

    # -- what a page says differently ----------------------------------------------------------------
    def open(self, prompt_id: int | None, *where) -> None:
        self.prompt = prompt_id

    def _here(self) -> tuple:
        """The open item as ``open`` arguments, to come back to."""
        return (self.prompt,)

    def _neighbour(self, db, view, prompt_id: int, direction: int) -> int | None:
        raise NotImplementedError

    def _contains(self, db, view, prompt_id: int) -> bool:
        raise NotImplementedError

    def _first(self, db, view) -> int | None:
        raise NotImplementedError

    def _queue_next(self, db, view, reviewer: str, queue) -> tuple | None:
        """The next queue item as ``open`` arguments, or None when the queue is empty."""
        raise NotImplementedError

    def _queue_empty(self, queue) -> str:
        raise NotImplementedError

    def _link(self, db, prompt_id: int, link_model: str) -> tuple:
        """``open`` arguments for a deep link to ``prompt_id``."""
        return (prompt_id,)

    # -- messages ----------------------------------------------------------------------------------
    def flash(self, kind: str, text: str) -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        shown, self.flashes = self.flashes, []
        return shown

    def take_said(self) -> str:
        shown, self.said = self.said, ""
        return shown

    def report_saved(self, label: str, on: str = "") -> None:
        """Say which label a key or click just recorded (``on``: the model, as shown)."""
        self.said = f":green[:material/check: Saved: {label_text(label)}{f' on {on}' if on else ''}]"

    def report_undo(self, undone: str | None, restored: str | None, on: str = "") -> None:
        """Say what ``U`` undid (``undone`` None: nothing of the reviewer's was there to undo)."""
        if undone is None:
            self.said = ":gray[:material/undo: Nothing of yours to undo on this prompt.]"
            return
        now = f"back to {label_text(restored)}" if restored else "now unlabelled"
        self.said = f":blue[:material/undo: Undid your {label_text(undone)}{f' on {on}' if on else ''} ({now}).]"

    # -- moving --------------------------------------------------------------------------------------
    def step(self, db, view, direction: int) -> None:
        if self.prompt is None:
            return
        nxt = self._neighbour(db, view, self.prompt, direction)
        if nxt is None:
            self.flash("info", f"That is the last {self.NOUN} in this filter." if direction > 0
                       else f"This is the first {self.NOUN}.")
        else:
            self.open(nxt)

    def take_from_queue(self, db, view, reviewer: str, queue) -> None:
        nxt = self._queue_next(db, view, reviewer, queue)
        self.queue_key = (view, reviewer, queue)
        if nxt is None:
            self.flash("info", self._queue_empty(queue))
            self.open(None)
            return
        if self.prompt is not None:
            self.visited.append(self._here())
        self.open(*nxt)

    def queue_back(self) -> None:
        if not self.visited:
            self.flash("info", f"This is the first {self.NOUN} you were handed in this session.")
            return
        self.open(*self.visited.pop())

    def next_item(self, db, view, reviewer: str | None, queue, passed_over: tuple[int, ...] = ()) -> None:
        """``N``: on to the next item: from the queue (``passed_over``, what the reviewer left
        unlabelled here, is not handed out again this session), else the next in the filter."""
        if queue is not None and reviewer:
            self.skipped += passed_over
            self.take_from_queue(db, view, reviewer, queue)
        else:
            self.step(db, view, 1)

    def resolve(self, db, view, link: str | None, link_dataset: str, reviewer: str | None, queue,
                link_model: str = "") -> None:
        """Which item is open after this rerun (the rules in the module docstring)."""
        if link and link != self.url:
            self.url = link
            found = review.find_prompt(db, link, link_dataset)
            if not found:
                self.flash("warning", f"No prompt with id {display.quote(link)} in this database.")
            else:
                self.open(*self._link(db, found[0], link_model))
        elif queue is not None and reviewer and self.queue_key != (view, reviewer, queue):
            self.skipped, self.visited = (), []
            self.take_from_queue(db, view, reviewer, queue)
        elif queue is None and (self.prompt is None or self.last_view not in (None, view)) \
                and not (self.prompt is not None and self._contains(db, view, self.prompt)):
            self.open(self._first(db, view))
        self.last_view = view

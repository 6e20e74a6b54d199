"""The Prompt review page's state: which prompt is open, the team queue, flash messages.
pages/prompt_review.py only draws. Every session key the page uses is named here; widget keys
(``pr_*``) stay session keys because Streamlit widgets own their values.

The rules are the Review page's (``ui.item_state``, shared with ui/review_state.py) with a prompt as
the unit: in queue mode ``N`` takes the next prompt the reviewer has not labelled that fewer than k
people have.
"""

from dataclasses import dataclass
from typing import ClassVar

from store import prompt_labels
from store.selection import Selection
from ui.item_state import ItemState

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
class PromptReviewState(ItemState):
    """The Prompt review page: its items are prompts, its view a ``(Selection, status)`` pair, and
    the queue (settings: k, the reviewers per prompt) hands out prompts; ``skipped`` holds prompt ids."""
    STATE: ClassVar[str] = STATE
    NOUN: ClassVar[str] = "prompt"

    def _neighbour(self, db, view: tuple[Selection, str], prompt_id: int, direction: int) -> int | None:
        return prompt_labels.neighbour(db, *view, prompt_id, direction)

    def _contains(self, db, view: tuple[Selection, str], prompt_id: int) -> bool:
        return prompt_labels.contains(db, *view, prompt_id)

    def _first(self, db, view: tuple[Selection, str]) -> int | None:
        return next(iter(prompt_labels.prompt_ids(db, *view, 0, 1)), None)

    def _queue_next(self, db, view: tuple[Selection, str], reviewer: str, queue: int) -> tuple | None:
        nxt = prompt_labels.queue_next(db, *view, reviewer, queue, self.skipped)
        return None if nxt is None else (nxt,)

    def _queue_empty(self, queue: int) -> str:
        return "The queue is empty for you: every prompt in this filter has its reviewers."

    def undo_on_prompt(self, db, reviewer: str) -> None:
        """``U``: undo the reviewer's last label on the open prompt, and say what was undone."""
        done = prompt_labels.undo_last_label(db, self.prompt, reviewer)
        undone, restored = done or (None, None)
        self.report_undo(undone, restored[0] if restored else None)

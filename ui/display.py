"""Showing model- and user-written text safely, and the reading aids around it.

Prompts, responses, rationales, notes, comments and rubrics are untrusted: they may hold HTML, a
markdown image pointing anywhere, a link, or markup built to be slow. ``show_text`` and
``inert_markdown`` show them through ``ui.markdown`` (a real parse, written back from an
allow-list; nothing can load, link or run), and ``escape_markdown`` / ``quote`` make names and
values quoted in the app's own messages plain characters. Top-level code blocks are shown with
``st.code``; ``plain=True`` (and a text with more markup than the formatter's budget) shows the
exact characters in a code box instead.
"""

import json
from functools import cache
from pathlib import Path

import streamlit as st

from ui import highlight, markdown

SENSITIVE_WORDS = ("safety", "unsafe", "toxic", "harm", "dangerous", "violen", "sexual", "self-harm")
GUIDELINES = Path(__file__).with_name("guidelines.json")
QUOTE_LIMIT = 200


def escape_markdown(text) -> str:
    """Short untrusted text (a name, an error message) as exactly its characters: no formatting,
    no link, nothing loaded."""
    return markdown.escape(str(text))


def when(stamp) -> str:
    """A stored UTC timestamp ("2026-11-30T04:27:23.123Z") as "2026-11-30 04:27"; blank when unset."""
    return stamp[:16].replace("T", " ") if isinstance(stamp, str) else ""


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """A user's or a URL's value quoted inside one of the app's own messages: in quotes, control
    characters visible (``\\n``), cut to ``limit`` characters, and inert."""
    value = str(value)
    shown = repr(value[:limit]) + ("…" if len(value) > limit else "")
    return escape_markdown(shown)


def inert_markdown(text) -> str:
    """Markdown that renders the text's formatting but cannot run, load or link anything."""
    return markdown.inert(text)


def show_text(text, plain: bool = False, marks=()) -> None:
    """Render untrusted text: inert markdown, with top-level code blocks as code boxes; ``marks``:
    words to highlight (search matches, ui/highlight.py) in the inert markdown."""
    text = str(text or "")
    if not plain and not markdown.within_budget(text):
        st.caption("Shown as exact characters: this text is too long or holds too much markup to format "
                   "quickly.")
        plain = True
    if plain:
        st.code(text, language=None, wrap_lines=True)
        return
    pieces = markdown.segments(text)
    if not pieces:
        st.markdown("*(empty)*")
    for kind, body, language in pieces:
        if kind == "code":
            st.code(body.removesuffix("\n"), language=language, wrap_lines=True)
        else:
            st.markdown(highlight.mark(body, marks))


def needs_content_warning(dataset: str, split: str | None, category: str | None, subcategory: str | None,
                          expected: str | None, team_categories=()) -> bool:
    """The one content-warning rule (Review hides such a prompt until clicked, the presenter view
    behind a warning): its dataset, split, benchmark or team category names an unsafe topic
    (CoCoNot safety concerns, OR-Bench toxic, XSTest unsafe, a team's "Self-harm").

    A prompt expected to be answered (CoCoNot's contrast set, OR-Bench hard-1k, XSTest safe) only
    looks unsafe by design, so it is not hidden: hiding the bait would slow down exactly the review
    of over-refusal that those sets exist for."""
    if expected == "should_comply":
        return False
    words = " ".join(x or "" for x in (dataset, split, category, subcategory, *team_categories)).lower()
    return any(w in words for w in SENSITIVE_WORDS)


@cache
def _guidelines() -> dict:
    return json.loads(GUIDELINES.read_text(encoding="utf-8"))


def guideline(category: str | None, expected: str | None) -> str | None:
    """Built-in guideline for a CoCoNot category and the expected behaviour (used when the prompt has
    no rubric of its own in the categories table). A should-comply prompt only resembles its
    category (CoCoNot's contrast set), so the category's "good answer declines" text is left out."""
    data = _guidelines()
    category_text = None if expected == "should_comply" else data["categories"].get((category or "").strip().lower())
    parts = [category_text, data["expected"].get(expected or "")]
    return " ".join(p for p in parts if p) or None

"""Showing model- and user-written text safely, and the reading aids around it.

Prompts, responses and judge rationales are untrusted: a response may contain HTML, script, or a
markdown image pointing anywhere. Text is shown as markdown (responses are usually markdown) made
inert first: ``<`` and ``&`` become entities so no tag can form, ``[`` is escaped so no link or
image syntax survives (bare URLs stay clickable text; nothing loads by itself), ``$`` is escaped so
prices are not typeset as maths. Fenced code blocks are shown with ``st.code`` untouched, and
Streamlit itself never renders raw HTML in markdown unless asked (we never ask). ``plain=True``
shows the exact characters in a code box instead.
"""

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

_FENCE = re.compile(r"^(```|~~~)([^\n`]*)\n(.*?)(?:^\1[ \t]*$|\Z)", re.S | re.M)
# A code span never crosses a blank line (a paragraph break), so neither does this pattern: text it
# keeps verbatim must be text markdown shows verbatim too.
_INLINE_CODE = re.compile(r"(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")
SENSITIVE_WORDS = ("safety", "unsafe", "toxic", "harm", "dangerous", "violen", "sexual", "self-harm")
GUIDELINES = Path(__file__).with_name("guidelines.json")


def escape_markdown(text: str) -> str:
    """Every markdown-significant character backslash-escaped: for short texts such as names."""
    return _MD_PUNCT.sub(r"\\\1", str(text))


def _inert_prose(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return text.replace("[", "\\[").replace("$", "\\$")


def inert_markdown(text: str) -> str:
    """Markdown that renders the text's formatting but cannot run, load or link anything.
    Inline code spans are kept verbatim (markdown shows code literally)."""
    out, last = [], 0
    for m in _INLINE_CODE.finditer(text):
        out.append(_inert_prose(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_inert_prose(text[last:]))
    return "".join(out)


def show_text(text: str, plain: bool = False) -> None:
    """Render untrusted text: inert markdown, with fenced code blocks as code boxes."""
    if plain:
        st.code(text, language=None, wrap_lines=True)
        return
    last = 0
    for m in _FENCE.finditer(text):
        if text[last:m.start()].strip():
            st.markdown(inert_markdown(text[last:m.start()]))
        st.code(m.group(3).rstrip("\n"), language=(m.group(2).strip() or None), wrap_lines=True)
        last = m.end()
    if text[last:].strip() or last == 0:
        st.markdown(inert_markdown(text[last:]) or "*(empty)*")


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

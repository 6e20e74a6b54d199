"""Coloured label badges (Streamlit markdown directives), one colour per label everywhere in the app."""

from labels import (
    FULL_COMPLIANCE,
    FULL_REFUSAL,
    NONE,
    PARTIAL_REFUSAL,
    SHOULD_COMPLY,
    SHOULD_REFUSE,
    UNCLEAR,
    UNPARSED,
    expected_from_moderation,
)
from ui.display import escape_markdown

COLOURS = {FULL_COMPLIANCE: "green", PARTIAL_REFUSAL: "orange", FULL_REFUSAL: "red", UNPARSED: "gray",
           SHOULD_COMPLY: "green", UNCLEAR: "orange", SHOULD_REFUSE: "red", NONE: "green"}
#: Short button texts: three buttons must fit side by side in a third of the page.
SHORT = {FULL_COMPLIANCE: "Complies", PARTIAL_REFUSAL: "Partial", FULL_REFUSAL: "Refuses"}


def label_text(label: str | None) -> str:
    return (label or "withdrawn").replace("_", " ")


def badge(label: str | None, prefix: str = "") -> str:
    """Markdown for a coloured badge; ``prefix`` (a judge or annotator name) is shown before the label."""
    colour = COLOURS.get(label, "gray")
    head = f"{escape_markdown(prefix)}: " if prefix else ""
    return f":{colour}-badge[{head}{label_text(label)}]"


def expected_badge(expected: str | None) -> str:
    if not expected:
        return ":gray-badge[expected: unknown]"
    colour = "red" if expected == "should_refuse" else "green"
    return f":{colour}-badge[{expected.replace('_', ' ')}]"


def moderation_badge(label: str, prefix: str = "") -> str:
    """A moderator's verdict: red for any category (toxic), green for none, gray when unreadable."""
    colour = {SHOULD_REFUSE: "red", SHOULD_COMPLY: "green"}.get(expected_from_moderation(label), "gray")
    head = f"{escape_markdown(prefix)}: " if prefix else ""
    return f":{colour}-badge[{head}{escape_markdown(label)}]"

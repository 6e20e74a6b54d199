"""Search matches highlighted in text that has already been made inert (ui/display.py).

The words come from SQLite's full-text index (``store.review.search_matches``), so a highlight is
exactly what the search matched: stems, prefixes, phrases. They are marked in the *sanitised*
markdown, never in the raw text, so highlighting cannot undo the sanitiser's work, whichever
sanitiser that is: a match is wrapped in Streamlit's ``:orange-background[...]`` directive only
when it holds no bracket, backtick or line break, stands on word boundaries (not inside an entity
such as ``&amp;``), and lies outside code spans (which show their characters literally). A
character the sanitiser escaped with a backslash still matches.
"""

import re

_CODE_SPAN = re.compile(r"(?<!\\)(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_UNSAFE = re.compile(r"[\[\]`\n]")
MAX_WORDS = 50  # a search highlights a few words; more would only slow the page


def _pattern(words) -> re.Pattern | None:
    parts = []
    for word in sorted({w for w in words if w and w.strip()}, key=len, reverse=True)[:MAX_WORDS]:
        pieces = []
        for ch in word:
            if ch.isspace():
                pieces.append(r"\s+")
            elif ch.isalnum():
                pieces.append(re.escape(ch))
            else:
                pieces.append(r"\\?" + re.escape(ch))
        parts.append("".join(pieces))
    if not parts:
        return None
    return re.compile(r"(?<![\w&\\])(?:" + "|".join(parts) + r")(?!\w)")


def _wrap(match: re.Match) -> str:
    text = match.group(0)
    return text if _UNSAFE.search(text) else f":orange-background[{text}]"


def mark(markdown: str, words) -> str:
    """``markdown`` (sanitised) with every match of ``words`` highlighted, code spans untouched."""
    pattern = _pattern(words)
    if pattern is None:
        return markdown
    out, last = [], 0
    for span in _CODE_SPAN.finditer(markdown):
        out.append(pattern.sub(_wrap, markdown[last:span.start()]))
        out.append(span.group(0))
        last = span.end()
    out.append(pattern.sub(_wrap, markdown[last:]))
    return "".join(out)

"""A word-level diff of two responses, for seeing where two models (or a chosen and a rejected
answer) part ways.

Words are compared as whole tokens (``difflib``), and every piece of text is escaped before it is
coloured, so the diff is as inert as the texts themselves: words only in the first response on
red, words only in the second on green. Each text is compared up to ``MAX_WORDS`` words, which
keeps the comparison well under a second however long the responses are.
"""

import difflib
import re

import streamlit as st

from ui.display import escape_markdown

MAX_WORDS = 2_000
_TOKEN = re.compile(r"\S+|\s+")


def _words(text: str) -> tuple[list[str], bool]:
    tokens = _TOKEN.findall(text or "")
    cut = [t for t in tokens if not t.isspace()]
    if len(cut) <= MAX_WORDS:
        return tokens, False
    kept, seen = [], 0
    for t in tokens:
        seen += not t.isspace()
        if seen > MAX_WORDS:
            break
        kept.append(t)
    return kept, True


def opcodes(a: str, b: str) -> tuple[list[tuple[str, str, str]], bool]:
    """[(kind, text of a, text of b)] with kind equal / delete / insert / replace, comparing words
    (runs of spaces travel with the word before them); True when a text was cut at MAX_WORDS."""
    ta, cut_a = _words(a)
    tb, cut_b = _words(b)
    wa, wb = _join_spaces(ta), _join_spaces(tb)
    matcher = difflib.SequenceMatcher(None, [w.strip() for w in wa], [w.strip() for w in wb], autojunk=False)
    return [(kind, "".join(wa[i1:i2]), "".join(wb[j1:j2])) for kind, i1, i2, j1, j2 in matcher.get_opcodes()], \
        cut_a or cut_b


def _join_spaces(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for t in tokens:
        if t.isspace() and out:
            out[-1] += t
        else:
            out.append(t)
    return out


def _coloured(text: str, colour: str) -> str:
    """Escaped text on a colour, line by line (a directive does not cross a line break)."""
    lines = text.split("\n")
    return "  \n".join(f":{colour}-background[{escape_markdown(line.strip())}]" + (" " if line.endswith(" ") else "")
                       if line.strip() else "" for line in lines)


def markdown(a: str, b: str) -> tuple[str, bool]:
    """The diff as inert markdown, and whether a text was cut."""
    parts, cut = opcodes(a, b)
    out = []
    for kind, old, new in parts:
        if kind == "equal":
            out.append("  \n".join(escape_markdown(line) for line in old.split("\n")))
            continue
        if old:
            out.append(_coloured(old, "red"))
        if new:
            out.append(_coloured(new, "green"))
    return "".join(out), cut


def plain(a: str, b: str) -> str:
    """The diff as exact characters: ``[-only in the first-]{+only in the second+}``."""
    parts, _ = opcodes(a, b)
    return "".join(old if kind == "equal" else (f"[-{old}-]" if old else "") + (f"{{+{new}+}}" if new else "")
                   for kind, old, new in parts)


def pick_and_show(responses, names: dict, exact: bool) -> None:
    """Two responses chosen by the reviewer (the first two by default), and their diff."""
    ids = [r.id for r in responses]
    left, right = st.columns(2)
    a = left.selectbox("First", ids, key="rv_diff_a", format_func=names.get)
    b = right.selectbox("Second", ids, index=1, key="rv_diff_b", format_func=names.get)
    text = {r.id: r.text for r in responses}
    if a == b:
        st.caption("Pick two different responses.")
        return
    st.caption(f":red-background[only in {escape_markdown(names[a])}] · "
               f":green-background[only in {escape_markdown(names[b])}]")
    if exact:
        st.code(plain(text[a], text[b]), language=None, wrap_lines=True)
        return
    body, cut = markdown(text[a], text[b])
    with st.container(key="rv_diff"):
        st.markdown(body or "*(both empty)*")
    if cut:
        st.caption(f"Compared up to the first {MAX_WORDS:,} words of each response.")

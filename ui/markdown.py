"""Untrusted text as inert markdown, rebuilt from a real markdown parse.

Prompts, responses, rationales, notes, comments and rubrics come from models and users: they may
hold images that load from anywhere, links, HTML, or text built to make a parser slow. Escaping
with regular expressions guessed where markdown's code spans were and guessed wrong (an escaped
backtick), so text is parsed instead (markdown-it-py, CommonMark with GFM tables and
strikethrough) and written back out from an allow-list of node types: paragraphs, headings, lists,
block quotes, tables, emphasis, strong, strikethrough, line breaks, code spans and code blocks.

- Everything else is text, and all text is written with every character that could make markup
  backslash-escaped, so the renderer can build nothing from it: link and image syntax, raw HTML
  and autolinks are never parsed (those rules are off) and show as the characters they are.
- Streamlit's renderer turns URL- and e-mail-shaped text into links even when escaped (the GFM
  autolink transform runs on text after escapes are resolved), so a word holding ``://``, ``@`` or
  ``www.`` is written as a code span: plain, not clickable, and exactly its characters.
- A heading of any level is written as the smallest (h6, body-sized bold): a response's
  "# Christianity" must not render as large as the page's own title.
- What is kept verbatim (code spans and code blocks) is written with a backtick fence longer than
  any backtick run inside it, so the renderer reads exactly that stretch as code: the parse that
  decided what is code is the one whose output the renderer sees.

Time is linear in the text: markdown-it's rules that can be slow on crafted text (links, images,
references, HTML) are off, and inline output is written from the flat token stream (no recursion on
nesting). Linear is not yet fast:
markdown-it-py spends up to ~50 µs per token on a busy machine, and a crafted 100 KB text can hold
100,000 tokens. So ``cost`` estimates the parse before it runs, from what each kind of character
cost in bench/render_bench.py (a line can open several blocks, a ``|`` a table cell, ``*`` and ``_``
emphasis; the inline parser stops at each other markup character; plain text is cheap), and a
text over ``BUDGET`` is not formatted at all: the caller shows its exact characters. Ordinary
responses cost a few thousand; the bench measures the worst cases at the budget.
"""

import re
from functools import lru_cache

from markdown_it import MarkdownIt

BUDGET = 45_000  # the most a text may cost and still be formatted (bench/render_bench.py: under 1 s)
_STOPS = "!#$%&+-:<=>@[\\]^`{}"  # where markdown-it's inline parser stops: 1 each, plus _WEIGHTS
_WEIGHTS = {"\n": 33, "|": 15, "*": 10, "_": 10, ">": 10, "~": 8}  # lines open blocks, | cells, > quotes
_PARSER = MarkdownIt("commonmark", {"maxNesting": 20}).enable(["table", "strikethrough"]).disable(
    ["link", "image", "autolink", "html_inline", "html_block", "entity", "reference"])
# Backslash-escaped in text: everything markdown (or Streamlit's renderer) builds inline markup from,
# anywhere in a line; and, at the start of a line, what opens a block (# heading, > quote, - + list,
# = setext heading, "1." or "1)" numbered list). Other punctuation means nothing without these
# (a link needs [, an entity &, an image ![), so "read-only (v2)" stays readable in messages.
_MARKUP_CHARS = re.compile(r"([\\`*_\[\]<&~$|])")
_LINE_START = re.compile(r"^([ \t]*)(?:([#>+=-])|(\d+)([.)]))", re.MULTILINE)
_WORD = re.compile(r"\S+")
_BACKTICKS = re.compile(r"`+")
_LANGUAGE = re.compile(r"[\w+#.-]{1,30}")
_INLINE = {"em_open": "*", "em_close": "*", "strong_open": "**", "strong_close": "**", "s_open": "~~",
           "s_close": "~~", "softbreak": "\n", "hardbreak": "\\\n"}
_ALIGN = {"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}


def cost(text: str) -> int:
    """What formatting ``text`` would cost, in units of a few microseconds (see the module's docstring)."""
    links = text.count("://") + text.count("@") + text.lower().count("www.")  # each a code span written here
    return (len(text) // 15 + sum(map(text.count, _STOPS)) + 10 * links
            + sum(weight * text.count(ch) for ch, weight in _WEIGHTS.items()))


def within_budget(text: str) -> bool:
    return cost(text) <= BUDGET


def _linklike(word: str) -> bool:
    return "://" in word or "@" in word or "www." in word.lower()


def escape(text: str, in_table: bool = False) -> str:
    """Text the renderer shows as exactly these characters and never as a link: punctuation
    backslash-escaped, URL- and address-shaped words as code spans."""
    return _write(_text_parts(str(text)), in_table)


def _text_parts(text: str) -> list[tuple[str, str]]:
    """("text", characters) and ("code", characters) pieces: link-shaped words become code."""
    if "://" not in text and "@" not in text and "www." not in text.lower():
        return [("text", text)]
    out, last = [], 0
    for m in _WORD.finditer(text):
        if _linklike(m.group(0)):
            out += [("text", text[last:m.start()]), ("code", m.group(0))]
            last = m.end()
    out.append(("text", text[last:]))
    return out


def _write(parts, in_table: bool = False) -> str:
    """Markdown for ("text" | "code" | "markup", characters) pieces. Code pieces that touch are
    written as one code span: two spans side by side would join their backtick fences into one run."""
    out, code = [], []
    for kind, chars in parts:
        if kind == "code":
            code.append(chars)
            continue
        if not chars:
            continue
        if code:
            out.append(code_span("".join(code), in_table))
            code = []
        out.append(_plain(chars) if kind == "text" else chars)
    if code:
        out.append(code_span("".join(code), in_table))
    return "".join(out)


def _plain(text: str) -> str:
    """``text`` with every character that could make markup backslash-escaped (see _MARKUP_CHARS)."""
    text = _MARKUP_CHARS.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"),
                           text)


def code_span(content: str, in_table: bool = False) -> str:
    """A code span the renderer reads as exactly ``content``: a fence of more backticks than any run
    inside, padded with a space when the content starts or ends with a backtick or a space."""
    if not content:
        return ""
    fence = "`" * (max(map(len, _BACKTICKS.findall(content)), default=0) + 1)
    if in_table:  # GFM splits table cells on | before it reads code spans
        content = content.replace("|", "\\|")
    pad = content[0] == "`" or content[-1] == "`" or (content[0] == " " and content[-1] == " " and content.strip(" "))
    return f"{fence} {content} {fence}" if pad else f"{fence}{content}{fence}"


def code_block(content: str, info: str = "") -> str:
    """A fenced code block holding exactly ``content``."""
    fence = "`" * max(3, max(map(len, _BACKTICKS.findall(content)), default=0) + 1)
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"{fence}{language(info) or ''}\n{body}{fence}"


def language(info: str) -> str | None:
    """The code block's language, when its info string starts with something that can be one."""
    found = _LANGUAGE.match(info.strip())
    return found.group(0) if found else None


def _inline(tokens, in_table: bool = False) -> str:
    parts = []
    for tok in tokens:
        if tok.type == "code_inline":
            parts.append(("code", tok.content))
        elif tok.type in _INLINE:
            parts.append(("markup", " " if in_table and tok.type.endswith("break") else _INLINE[tok.type]))
        else:  # text, and any inline node not on the allow-list: its characters as text
            parts += _text_parts(tok.content)
    return _write(parts, in_table)


def _indent(text: str, first: str, rest: str, blank: str = "") -> str:
    """Prefix the first line with ``first``, the others with ``rest`` (empty ones with ``blank``)."""
    lines = text.split("\n")
    return "\n".join([first + lines[0]] + [rest + line if line else blank for line in lines[1:]])


class _Writer:
    """Markdown from markdown-it's token stream; ``close[i]`` is where the block opened at ``i`` ends."""

    def __init__(self, tokens):
        self.tokens, self.close, stack = tokens, {}, []
        for i, tok in enumerate(tokens):
            if tok.nesting == 1:
                stack.append(i)
            elif tok.nesting == -1 and stack:
                self.close[stack.pop()] = i

    def blocks(self, start: int, stop: int) -> list[tuple[str, str, str | None]]:
        """The sibling blocks in tokens[start:stop] as (kind, markdown or code, language): kind "code"
        for a code block (its content and language), "markdown" for anything else."""
        out, i = [], start
        while i < stop:
            tok = self.tokens[i]
            end = self.close.get(i, i)
            if tok.type in ("fence", "code_block"):
                out.append(("code", tok.content, language(tok.info)))
            elif tok.nesting == 1:
                out.append(("markdown", self.container(tok, i, end), None))
            elif tok.type == "hr":
                out.append(("markdown", "---", None))
            elif tok.type == "inline" or tok.content:  # nothing else appears between blocks; text if it did
                out.append(("markdown", escape(tok.content), None))
            i = end + 1
        return out

    def markdown(self, start: int, stop: int, separator: str = "\n\n") -> str:
        return separator.join(text if kind == "markdown" else code_block(text, lang or "")
                              for kind, text, lang in self.blocks(start, stop))

    def container(self, tok, i: int, end: int) -> str:
        kind = tok.type.removesuffix("_open")
        if kind == "paragraph":
            return _inline(self.tokens[i + 1].children or [])
        if kind == "heading":  # a # ending the text would read as the heading's closing sequence
            text = _inline(self.tokens[i + 1].children or [])
            body = text[:-1]
            if text.endswith("#") and (len(body) - len(body.rstrip("\\"))) % 2 == 0:  # not already escaped
                text = body + "\\#"
            return "###### " + text  # every level as the smallest: a response never shouts like the page
        if kind == "blockquote":
            return _indent(self.markdown(i + 1, end), "> ", "> ", ">")
        if kind in ("bullet_list", "ordered_list"):
            return self.items(tok, i, end)
        if kind == "table":
            return self.table(i, end)
        return self.markdown(i + 1, end)

    def items(self, tok, i: int, end: int) -> str:
        number = int(tok.attrs.get("start", 1))
        out, j = [], i + 1
        while j < end:
            item_end = self.close.get(j, j)
            tight = any(t.type == "paragraph_open" and t.hidden for t in self.tokens[j + 1:j + 3])
            marker = f"{number}. " if tok.type == "ordered_list_open" else "- "
            body = self.markdown(j + 1, item_end, "\n" if tight else "\n\n")
            out.append(_indent(body, marker, " " * len(marker)) if body else marker.rstrip())
            number += 1
            j = item_end + 1
        return "\n".join(out)

    def table(self, i: int, end: int) -> str:
        rows, aligns = [], []
        for j in range(i, end):
            tok = self.tokens[j]
            if tok.type == "tr_open":
                rows.append([])
            elif tok.type in ("th_open", "td_open"):
                rows[-1].append(_inline(self.tokens[j + 1].children or [], in_table=True).strip() or " ")
                if tok.type == "th_open":
                    aligns.append(_ALIGN.get(str(tok.attrs.get("style", "")), "---"))
        if not rows:
            return ""
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join([lines[0], "| " + " | ".join(aligns) + " |"] + lines[1:])


@lru_cache(maxsize=256)  # the review page redraws the same texts on every click
def segments(text: str) -> tuple[tuple[str, str, str | None], ...]:
    """``text`` as inert pieces: ("markdown", markdown, None) and, for top-level code blocks,
    ("code", content, language), in order. Adjacent markdown pieces are joined. The caller checks
    ``within_budget`` first."""
    tokens = _PARSER.parse(text)
    out = []
    for kind, body, lang in _Writer(tokens).blocks(0, len(tokens)):
        if kind == "markdown" and out and out[-1][0] == "markdown":
            out[-1] = ("markdown", out[-1][1] + "\n\n" + body, None)
        else:
            out.append((kind, body, lang))
    return tuple(out)


def inert(text: str) -> str:
    """The whole text as one inert markdown string (code blocks fenced); over the budget, its
    characters escaped with no formatting."""
    text = str(text or "")
    if not within_budget(text):
        return escape(text)
    return "\n\n".join(body if kind == "markdown" else code_block(body, lang or "") for kind, body, lang in
                       segments(text))

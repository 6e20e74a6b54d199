"""Untrusted text on the page (ui/markdown.py, ui/display.py): whatever a response, prompt, note or
URL holds, what reaches the renderer can build no image, link or HTML, keeps the text's characters,
and is made in bounded time.

"The renderer" here is a full CommonMark parser (markdown-it with links, images, autolinks and HTML
on) plus the rule Streamlit's own renderer adds: URL- and address-shaped text becomes a link even
when escaped, so no such text may reach it outside code. The browser tests check the real thing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.conftest import finishes
from ui import display, markdown

FULL = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
UNSAFE = {"link_open", "image", "html_inline", "html_block"}
ISSUE_EXAMPLE = "\\`![b](http://127.0.0.1:9/x)`"  # the escaped backtick the regex sanitiser fell for


def _tokens(text: str):
    for tok in FULL.parse(text):
        yield tok
        yield from tok.children or []


def assert_inert(rendered: str) -> None:
    for tok in _tokens(rendered):
        assert tok.type not in UNSAFE, (tok.type, rendered)
        if tok.type == "text":
            lowered = tok.content.lower()
            assert "://" not in lowered and "@" not in lowered and "www." not in lowered, (tok.content, rendered)


def visible(text: str, parser=markdown._PARSER) -> str:
    """The characters a reader sees (text, code spans, code blocks), without layout whitespace and
    without emphasis marks: a URL written as code can keep a mark beside it from pairing (the mark
    then shows), which changes the look, never the text."""
    seen = []
    for tok in parser.parse(text):
        if tok.type in ("fence", "code_block"):
            seen.append(tok.content)
        for child in tok.children or []:
            if child.type in ("text", "code_inline"):
                seen.append(child.content)
    return "".join("".join(seen).split()).translate(str.maketrans("", "", "*_~"))


@pytest.mark.parametrize("text", [
    ISSUE_EXAMPLE,
    "![b](http://127.0.0.1:9/x)",
    "[Session expired - sign in](http://evil.example/login)",
    "<img src=http://127.0.0.1:9/x.png> <script>alert(1)</script>",
    "<http://127.0.0.1:9/auto> and http://127.0.0.1:9/bare, www.example.com, ann@example.com",
    "[ref][r]\n\n[r]: http://127.0.0.1:9/ref",
    "``code with ` inside`` then ![i](http://h/i.png) `` ` ``",
    "| a | b |\n|---|---|\n| ![i](http://h/i.png) | `x|y` |",
    "> quoted ![i](http://h/i.png)\n>\n> ```\n> fenced ![i](http://h/i.png)\n> ```",
    "1. item ![i](http://h/i.png)\n   - nested [l](http://h)\n\n```\n````\n```",
    "*emphasis with ![i](http://h/i.png)* and **strong [l](http://h)** ~~gone~~",
])
def test_hostile_markdown_renders_inert(text):
    rendered = display.inert_markdown(text)
    assert_inert(rendered)
    assert visible(text) == visible(rendered)


def test_the_escaped_backtick_image_is_shown_as_its_characters():
    rendered = display.inert_markdown(ISSUE_EXAMPLE)
    assert [t.type for t in _tokens(rendered) if t.type in ("code_inline", "image")] == ["code_inline"]
    assert "![b](http://127.0.0.1:9/x)" in rendered


def test_formatting_survives():
    rendered = display.inert_markdown("# Title\n\nSome **bold**, *italic* and `code`.\n\n- one\n- two\n\n"
                                      "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n> quote")
    kinds = {t.type for t in _tokens(rendered)}
    assert {"heading_open", "strong_open", "em_open", "code_inline", "bullet_list_open", "table_open",
            "blockquote_open"} <= kinds


_FRAGMENTS = ["`", "``", "\\", "\\`", "![", "[", "]", "(", ")", "http://h/x", "www.a.b", "a@b.co", "<", ">", "*", "**",
              "_", "~~", "|", "\n", "\n\n", "    ", "- ", "1. ", "# ", "> ", "```", "~~~", "---", "&amp;", "$x$",
              ":red[a]", "word", " ", "é", "\u200b", "\t", "=", "<img src=x>", "[a]: http://h"]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40))
@settings(max_examples=400, deadline=None)
def test_any_mix_of_markdown_fragments_renders_inert_and_keeps_its_characters(pieces):
    text = "".join(pieces)
    rendered = display.inert_markdown(text)
    assert_inert(rendered)
    assert visible(text) == visible(rendered)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_text_quoted_in_a_message_is_one_inert_paragraph(text):
    quoted = display.quote(text)
    assert_inert(quoted)
    blocks = [t.type for t in FULL.parse(f"No prompt with id {quoted} in this database.") if t.nesting == 1]
    assert blocks == ["paragraph_open"]


def test_quote_shows_the_value_and_cuts_a_long_one():
    quoted = display.quote("![x](http://h/i.png)\n# hi")
    assert visible(quoted, FULL) == "'![x](http://h/i.png)\\n#hi'"
    assert visible(display.quote("a" * 5000), FULL) == "'" + "a" * display.QUOTE_LIMIT + "'…"


HOSTILE_UNITS = {  # repeated to 100 KB, or to as many repeats as the formatter's budget takes
    "backtick runs": "`x `` y ``` z ",
    "escaped backtick images": ISSUE_EXAMPLE + " ",
    "brackets": "[",
    "emphasis": "*a _b ",
    "strikethrough": "~~a ",
    "nested quotes and lists": "> - > - a\n",
    "headings": "# a\n",
    "table rows": "|`x`|*y*|\n",
    "newlines": "\n",
    "urls": "http://h/x a@b.co www.c.d ",
}


def hostile(name: str, size: str) -> str:
    unit = HOSTILE_UNITS[name]
    head = "|a|b|\n|-|-|\n" if name == "table rows" else ""
    if size == "100 KB":
        return head + unit * (100_000 // len(unit))
    repeats = 1
    while markdown.within_budget(head + unit * (repeats * 2)):
        repeats *= 2
    step = repeats // 2
    while step:
        if markdown.within_budget(head + unit * (repeats + step)):
            repeats += step
        step //= 2
    return head + unit * repeats


@pytest.mark.parametrize("size", ["100 KB", "at the budget"])
@pytest.mark.parametrize("name", HOSTILE_UNITS)
def test_hostile_text_renders_inert_in_bounded_time(name, size):
    text = hostile(name, size)
    assert_inert(finishes(display.inert_markdown, text))


def test_text_over_the_budget_is_shown_as_exact_characters():
    from streamlit.testing.v1 import AppTest

    def page():
        from tests.test_untrusted_text import hostile
        from ui import display

        display.show_text(hostile("emphasis", "100 KB"))
        display.show_text("Some **bold** and\n\n```python\nprint(1)\n```\n")

    at = AppTest.from_function(page, default_timeout=120).run()
    assert not at.exception
    text = hostile("emphasis", "100 KB")
    assert not markdown.within_budget(text)
    assert at.code[0].value == text and "exact characters" in at.caption[0].value
    assert at.markdown[0].value == "Some **bold** and" and at.code[1].value == "print(1)"
    assert at.code[1].language == "python"


def test_headings_of_every_level_are_written_as_the_smallest():
    """A response's "# Christianity" must not render as large as the page title: every heading is an h6."""
    text = "# Christianity\n\n## Part two #\n\nSetext\n======\n\n###### small"
    rendered = display.inert_markdown(text)
    assert [t.tag for t in FULL.parse(rendered) if t.type == "heading_open"] == ["h6"] * 4
    assert_inert(rendered)
    assert visible(text) == visible(rendered)

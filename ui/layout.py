"""Page density: what fits on a laptop's screen.

Streamlit's default page leaves ~6 rem above and 5 rem beside the content, which at 1280 x 800
puts the review page's label buttons below the fold. ``app`` (every page) narrows those margins;
``review_page`` lets a long prompt, guideline or response scroll inside its own box instead of
pushing the verdicts and buttons down: a response box takes what is left of the window's height
after the page's fixed parts (``100vh - 31rem``, never less than 10 rem; less beside two others,
whose verdicts and buttons wrap onto more lines), so on a taller screen more text shows. A card's three
label buttons stay on one line (the focused card's, wider by their key hints and a check, wrapped
in a third of the page and pushed its last button off the screen). The rules name keyed containers (``st.container(key=...)`` becomes the class
``st-key-<key>``) and Streamlit's main block; a ``<style>``-only ``st.html`` takes no space.
"""

import streamlit as st

_APP = """
[data-testid="stMainBlockContainer"] {padding: 4.25rem 1.5rem 3rem 1.5rem;}
.st-key-rv_said, .st-key-pr_said {flex: 1 1 0; min-width: 0; align-self: center;}
.st-key-rv_said p, .st-key-pr_said p {margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
"""
_REVIEW = """
.st-key-rv_prompt {max-height: 9rem; overflow-y: auto;}
.st-key-rv_guideline {max-height: 2.6rem; overflow-y: auto;}
[class*="st-key-rv_text_"] {max-height: max(10rem, calc(100vh - 31rem)); overflow-y: auto; padding-right: .25rem;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"]:nth-child(3)) [class*="st-key-rv_text_"]
    {max-height: max(6rem, calc(100vh - 41rem));}
[data-testid="stMain"]:has(.st-key-rv_flash) [class*="st-key-rv_text_"] {max-height: max(7rem, calc(100vh - 37rem));}
.st-key-rv_flash [data-testid="stAlertContainer"] {padding-top: .5rem; padding-bottom: .5rem;}
.st-key-rv_diff {max-height: 24rem; overflow-y: auto;}
[data-testid="stMainBlockContainer"] h4 {padding: 0 0 .25rem 0;}
[class*="st-key-rv_card_"] h4 {font-size: 1.15rem; line-height: 1.3;}
[class*="st-key-rv_card_"] [data-testid="stPopover"] button {min-height: 0; padding: .1rem .5rem; font-size: .85rem;}
[class*="st-key-rv_card_"] [data-testid="stPopover"] button p {white-space: normal; text-align: left;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"]:nth-child(3)) [class*="st-key-rv_card_"] button
    {padding-left: .55rem; padding-right: .55rem;}
[class*="st-key-rv_card_"] [data-testid="stHorizontalBlock"]:has(> [class*="st-key-rv_label_"]) {flex-wrap: nowrap; gap: .3rem;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"]:nth-child(3)) [class*="st-key-rv_label_"] button
    {padding-left: .4rem; padding-right: .4rem;}
"""


def app() -> None:
    st.html(f"<style>{_APP}</style>")


def review_page() -> None:
    st.html(f"<style>{_REVIEW}</style>")

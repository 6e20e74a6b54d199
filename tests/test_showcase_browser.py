"""The presenter view in a real browser: a deep link opens a showcase item, the content warning
holds back an unsafe item until revealed, the arrow keys and buttons walk the items, hostile text
stays text, and nothing is written. Screenshots: tests/screenshots/showcase_*.png (look at them)."""

import urllib.parse

import pytest

import store
from store import showcases
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.fixture_db import HOSTILE, build

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"
SHOWCASE = "Board meeting: refusals"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("showcase") / "showcase.db"
    db = store.connect(path)
    fx = build(db, hostile=True)
    models = ("gpt-4o-mini", "llama-3-8b", "mistral-7b")
    showcases.add_item(db, "alice", SHOWCASE, fx.prompts["orig-1"], [fx.responses[("orig-1", m)] for m in models],
                       "Three models, three behaviours. The third answer tries to run a script: it shows as text.")
    showcases.add_item(db, "alice", SHOWCASE, fx.prompts["con-2"], [fx.responses[("con-2", m)] for m in models[:2]],
                       "A harmless question that one model still refuses: over-refusal.")
    showcases.add_item(db, "alice", SHOWCASE, fx.prompts["xs-2"], [fx.responses[("xs-2", "mistral-7b")]], None)
    counts = store.reads.stats(db)
    db.conn.close()
    with running_app(path) as server:
        yield server.url, path, counts


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, width=1440) as page:
        yield page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"showcase_{name}.png"), full_page=True)


def test_presenter_walks_a_showcase_from_a_deep_link(app, page):
    url, path, counts = app
    leaks = []
    page.on("request", lambda r: leaks.append(r.url) if "127.0.0.1:9/" in r.url else None)
    link = f"{url}/showcase?" + urllib.parse.urlencode({"showcase": SHOWCASE, "item": 1})
    page.goto(link)
    page.get_by_text("item 1 of 3").wait_for()
    page.get_by_text("Show the prompt and the answers").wait_for()
    wait_idle(page)
    assert page.get_by_text("Content warning.").is_visible()
    assert not page.get_by_text("pick the lock").is_visible()  # held back until revealed
    assert page.title().startswith("Refusal Review") or "Showcases" in page.title()  # ran through app.py
    assert not page.locator("[data-testid='stSidebar']").is_visible()  # clean: no sidebar
    _shot(page, "1_warning")

    page.get_by_text("Show the prompt and the answers").click()
    page.get_by_text("pick the lock on my neighbour").wait_for()
    wait_idle(page)
    page.get_by_text(HOSTILE).wait_for()  # the script and image tags show as text
    assert page.title() != "pwned"
    assert page.locator("img[src*='127.0.0.1:9']").count() == 0
    page.get_by_text("Three models, three behaviours").wait_for()
    _shot(page, "1_revealed")

    page.mouse.click(5, 500)  # off the toggle: shortcuts do not fire while an input has the focus
    page.keyboard.press("ArrowRight")  # the Next button's keyboard shortcut
    page.get_by_text("item 2 of 3").wait_for()
    page.get_by_text("Why is the sky blue").wait_for()
    page.get_by_text("over-refusal").wait_for()
    wait_idle(page)
    assert "item=2" in page.url
    assert not page.get_by_text("Content warning.").is_visible()  # a harmless question needs none
    _shot(page, "2")

    page.get_by_role("button", name="Next").click()
    page.get_by_text("item 3 of 3").wait_for()
    page.get_by_text("kill time at an airport").wait_for()
    wait_idle(page)
    assert page.get_by_role("button", name="Next").is_disabled()
    _shot(page, "3")

    page.get_by_role("button", name="Previous").click()
    page.get_by_text("item 2 of 3").wait_for()

    page.goto(link.replace("item=1", "item=3"))  # a link to a later item opens it directly
    page.get_by_text("item 3 of 3").wait_for()
    page.get_by_role("button", name="Close").click()
    page.get_by_role("heading", name="Showcases").wait_for()
    page.get_by_role("button", name="Present").wait_for()
    page.get_by_text("Who is labelling").wait_for()  # the app's own sidebar, not a bare page
    wait_idle(page)
    _shot(page, "manage")
    # The showcase's actions sit on one row, level with each other (no link hanging under Present).
    boxes = [page.get_by_role("button", name="Present").first.bounding_box(),
             page.locator("[data-testid='stLinkButton'] a", has_text="Link").first.bounding_box(),
             page.get_by_role("button", name="Delete").first.bounding_box()]
    assert all(box for box in boxes), boxes
    assert max(b["y"] for b in boxes) - min(b["y"] for b in boxes) < 2, boxes
    assert max(b["height"] for b in boxes) - min(b["height"] for b in boxes) < 2, boxes

    assert leaks == []
    assert store.reads.stats(store.connect(path, readonly=True)) == counts  # presenting writes nothing

"""The review workflow on the real CoCoNot release, in Chromium at 1280 x 800 (issue 17).

- The whole label loop with only the keyboard (label, mislabel, U, relabel, next), in normal and in
  queue mode, on the preference set; the database holds exactly the rows the keys asked for.
- Every response's verdicts and label buttons are on screen without scrolling.
- A reload keeps the name, the filter and the display choices; a copied URL opens the same
  filtered view in a new browser context.
- Results shows the contrast set's compliance per category with intervals, and says how to get
  responses for the sets that have none.

Screenshots go to tests/screenshots/workflow_*.png: look at them.
"""

import json
import subprocess
import sys

import pytest
from playwright.sync_api import expect

import store
from tests.app_server import launch_chromium, running_app, wait_idle
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    from tests.conftest import SHARED_DATA, skip_or_fail

    if not (SHARED_DATA / "coconot_pref.jsonl").exists():
        skip_or_fail(f"real CoCoNot data not found at {SHARED_DATA}")
    path = tmp_path_factory.mktemp("workflow") / "coconot.db"
    for name, part in (("coconot_eval.jsonl", "original"), ("coconot_contrast_eval.jsonl", "contrast"),
                       ("coconot_pref.jsonl", "pref")):
        subprocess.run([sys.executable, "cli.py", "--db", str(path), "import", "coconot", str(SHARED_DATA / name),
                        "--set", part], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([sys.executable, "cli.py", "--db", str(path), "judge", "--judge", "rules"], cwd=ROOT, check=True,
                   capture_output=True)
    return path


@pytest.fixture(scope="module")
def app(real_db, chromium_path):
    from playwright.sync_api import sync_playwright

    with running_app(real_db) as server, sync_playwright() as p:
        browser = launch_chromium(p, chromium_path)
        yield server.url, real_db, browser
        browser.close()
        assert "Traceback" not in server.log(), server.log()


def _context(browser, **cookies):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    return context, context.new_page()


def _ready(page) -> None:
    page.get_by_text("Keyboard focus").first.wait_for()
    wait_idle(page)


def _type_name(page, name: str) -> None:
    box = page.get_by_role("textbox", name="Who is labelling")
    box.fill(name)
    box.press("Enter")
    page.locator("[class*='st-key-rv_label_'] button:not([disabled])").first.wait_for()
    wait_idle(page)


def _key(page, key: str, then: str | None = None) -> None:
    """Press ``key`` on the page (not in a widget), then wait for ``then`` and the rerun to end."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)
    if then:
        page.get_by_text(then).first.wait_for()
    page.wait_for_timeout(300)  # the rerun the key started has begun
    wait_idle(page)


def _rows(db_path, annotator: str) -> list[tuple]:
    return store.connect(db_path, readonly=True).execute(
        "SELECT response_id, label, undoes IS NOT NULL FROM annotations WHERE annotator = ? ORDER BY id",
        [annotator]).fetchall()


def _first_pair(db_path, skip: int = 0) -> tuple[str, int, int]:
    """(source id, chosen response id, rejected response id) of the preference set's item ``skip``."""
    db = store.connect(db_path, readonly=True)
    source_id, prompt_id = db.execute("SELECT source_id, id FROM prompts WHERE dataset = 'coconot-pref' ORDER BY id "
                                      "LIMIT 1 OFFSET ?", [skip]).fetchone()
    chosen, rejected = (r[0] for r in db.execute("SELECT id FROM responses WHERE prompt_id = ? ORDER BY model, id",
                                                 [prompt_id]))
    return source_id, chosen, rejected


def _on_screen(page, response_ids) -> None:
    """Every response's verdict badge and label buttons lie inside the 1280 x 800 window."""
    for rid in response_ids:
        for selector in (f".st-key-rv_label_{rid}_full_compliance button", f".st-key-rv_label_{rid}_full_refusal button"):
            box = page.locator(selector).first.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)
    verdicts = page.locator("[data-testid='stPopover'] button:visible").all()
    assert len(verdicts) >= len(response_ids)
    for badge in verdicts:
        box = badge.bounding_box()
        assert box and box["y"] + box["height"] <= VIEWPORT["height"], box


def test_keyboard_label_loop_in_normal_mode(app):
    url, db_path, browser = app
    SHOTS.mkdir(exist_ok=True)
    source_id, chosen, rejected = _first_pair(db_path)
    context, page = _context(browser)
    page.goto(f"{url}/review?f.dataset=coconot-pref")
    _ready(page)
    _type_name(page, "kim")
    page.screenshot(path=SHOTS / "workflow_normal_0_open.png")
    _on_screen(page, [chosen, rejected])

    _key(page, "1", "kim: full compliance")  # label the chosen answer; the focus moves to the rejected one
    page.screenshot(path=SHOTS / "workflow_normal_1_label.png")
    _key(page, "3", "kim: full refusal")  # mislabel the rejected one
    page.screenshot(path=SHOTS / "workflow_normal_2_mislabel.png")
    _key(page, "u", "Undid your full refusal")  # U: undoes that one, says what, focus back on it
    page.screenshot(path=SHOTS / "workflow_normal_3_undo.png")
    _key(page, "2", "kim: partial refusal")  # relabel
    page.screenshot(path=SHOTS / "workflow_normal_4_relabel.png")
    assert _rows(db_path, "kim") == [(chosen, "full_compliance", 0), (rejected, "full_refusal", 0),
                                     (rejected, None, 1), (rejected, "partial_refusal", 0)]
    next_source, _, _ = _first_pair(db_path, 1)
    _key(page, "n")
    page.wait_for_url(f"**prompt={next_source}**")
    _ready(page)
    page.screenshot(path=SHOTS / "workflow_normal_5_next.png")
    assert len(_rows(db_path, "kim")) == 4  # moving on writes nothing
    page.wait_for_url("**f.dataset=coconot-pref**")  # the filter stays in the URL
    context.close()


def test_keyboard_label_loop_in_queue_mode_with_back(app):
    url, db_path, browser = app
    context, page = _context(browser)
    # Queue mode from this browser's kept display choices (ui/persist.py), k = 1: the queue skips
    # what anybody labelled, so it starts after kim's item from the test above when run after it.
    context.add_cookies([{"name": "rr_prefs", "value": json.dumps({"rv_queue_mode": True, "rv_overlap": 1}),
                          "url": url}])
    page.goto(f"{url}/review?f.dataset=coconot-pref")
    page.get_by_role("textbox", name="Who is labelling").wait_for()
    wait_idle(page)
    _type_name(page, "lee")
    page.get_by_text("left for you").wait_for()
    _ready(page)
    db = store.connect(db_path, readonly=True)
    first = db.execute("""SELECT r.id, r.prompt_id FROM responses r JOIN prompts p ON p.id = r.prompt_id
                          WHERE p.dataset = 'coconot-pref' AND NOT EXISTS (SELECT 1 FROM current_annotations a
                          WHERE a.response_id = r.id) ORDER BY r.id LIMIT 1""").fetchone()
    pair = [r[0] for r in db.execute("SELECT id FROM responses WHERE prompt_id = ? ORDER BY model, id", [first[1]])]
    other = [r for r in pair if r != first[0]][0]
    _on_screen(page, pair)
    page.screenshot(path=SHOTS / "workflow_queue_0_open.png")

    for key, then in (("1", "lee: full compliance"),  # the response handed out
                      ("3", "lee: full refusal"),  # the other response of the item: a mislabel
                      ("u", "Undid your full refusal"), ("2", "lee: partial refusal")):
        _key(page, key, then)
        page.get_by_text("left for you").wait_for()  # still in queue mode
    page.screenshot(path=SHOTS / "workflow_queue_1_relabelled.png")
    assert _rows(db_path, "lee") == [(first[0], "full_compliance", 0), (other, "full_refusal", 0), (other, None, 1),
                                     (other, "partial_refusal", 0)]
    old_prompt = page.url
    _key(page, "n")
    page.wait_for_url(lambda u: u != old_prompt and "prompt=" in u)
    _ready(page)
    page.get_by_text("left for you").wait_for()
    page.screenshot(path=SHOTS / "workflow_queue_2_next.png")
    _key(page, "p")  # Back: the item before, as it was
    page.wait_for_url(old_prompt.split("?")[0] + "?" + old_prompt.split("?")[1].split("&model=")[0] + "**")
    _ready(page)
    page.get_by_text("lee: partial refusal").wait_for()
    page.screenshot(path=SHOTS / "workflow_queue_3_back.png")
    assert len(_rows(db_path, "lee")) == 4
    context.close()


def test_reload_keeps_name_filter_and_display_and_a_copied_link_opens_the_same_view(app):
    url, db_path, browser = app
    context, page = _context(browser)
    page.goto(f"{url}/review")
    _ready(page)
    _type_name(page, "max")
    page.get_by_role("textbox", name="Search prompt and response text").fill("poison")
    page.get_by_role("textbox", name="Search prompt and response text").press("Enter")
    page.wait_for_url("**f.search=poison**")
    _ready(page)
    page.get_by_text("Display", exact=True).click()
    page.get_by_text("Show exact characters (no markdown)").click()
    page.wait_for_timeout(500)
    wait_idle(page)
    position = page.get_by_text("of", exact=False).filter(has_text="Item").first.inner_text()
    copied = page.url
    page.screenshot(path=SHOTS / "workflow_reload_0_before.png")

    page.reload()
    _ready(page)
    expect(page.get_by_role("textbox", name="Who is labelling")).to_have_value("max")
    expect(page.get_by_role("textbox", name="Search prompt and response text")).to_have_value("poison")
    expect(page.locator("[class*='st-key-rv_text_'] [data-testid='stCode']").first).to_be_visible()  # exact characters
    assert page.get_by_text("of", exact=False).filter(has_text="Item").first.inner_text() == position
    page.screenshot(path=SHOTS / "workflow_reload_1_after.png")
    context.close()

    other, fresh = _context(browser)  # another browser: no cookies, only the link
    fresh.goto(copied)
    _ready(fresh)
    expect(fresh.get_by_role("textbox", name="Search prompt and response text")).to_have_value("poison")
    assert fresh.get_by_text("of", exact=False).filter(has_text="Item").first.inner_text() == position
    expect(fresh.get_by_role("textbox", name="Who is labelling")).to_have_value("")
    # the search's matches are highlighted in the prompt and the responses (markdown, this browser's default)
    expect(fresh.locator(".st-key-rv_prompt span[style*='background']", has_text="poison").first).to_be_visible()
    assert fresh.locator("[class*='st-key-rv_text_'] span[style*='background']", has_text="oison").count() >= 2
    fresh.screenshot(path=SHOTS / "workflow_reload_2_copied_link.png")
    other.close()


def test_results_show_contrast_compliance_per_category_and_how_to_get_responses(app):
    url, _, browser = app
    context, page = _context(browser)
    page.set_viewport_size({"width": 1280, "height": 2400})
    page.goto(f"{url}/results")
    page.get_by_text("CoCoNot contrast (should comply)").first.wait_for()
    wait_idle(page)
    page.get_by_text("A judge", exact=True).click()  # the rule judge's figures, whatever was labelled before
    page.get_by_text("Labels from judge rules").wait_for()
    wait_idle(page)
    page.wait_for_function("() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 2")
    assert page.get_by_text("coconot-original (1,001 prompts)", exact=False).count() >= 1
    assert page.get_by_text("Run", exact=False).count() >= 1
    for category in ("Incomplete requests", "Requests with safety concerns", "Unsupported requests"):
        expect(page.locator(".vega-embed").get_by_text(category).first).to_be_visible(timeout=30_000)  # an axis label
    assert page.get_by_text("chosen against rejected").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=SHOTS / "workflow_results.png", full_page=True)
    context.close()


def test_a_fresh_server_shows_only_the_apps_navigation_and_a_deep_link_lands_in_the_app(app, tmp_path):
    """The first request to a new server: Streamlit's own page list (built from pages/, lower-case)
    never shows, and a link straight to a prompt opens inside the app (navigation and sidebar)."""
    from tests.fixture_db import build

    browser = app[2]
    path = tmp_path / "fresh.db"
    build(store.connect(path))
    with running_app(path) as server:
        context, page = _context(browser)
        page.goto(f"{server.url}/review?prompt=con-2", wait_until="commit")
        flashes = 0
        for _ in range(60):  # the first seconds of the first load, every 100 ms
            flashes += page.locator("[data-testid='stSidebarNav']").count()
            page.wait_for_timeout(100)
        _ready(page)
        assert flashes == 0
        expect(page.get_by_role("link", name="Browse")).to_be_visible()  # the app's own navigation
        expect(page.get_by_role("textbox", name="Who is labelling")).to_be_visible()  # the app's sidebar
        page.get_by_text("Why is the sky blue").wait_for()
        page.screenshot(path=SHOTS / "workflow_fresh_deep_link.png")
        context.close()

"""The review page in a real browser: keyboard labelling that survives a reload, safe display of a
hostile response, keys that act right after a name is typed and Enter pressed (Review and Prompt
review), and screenshots of the page (tests/screenshots/, look at them)."""

import pytest
from playwright.sync_api import expect

import store
from store import prompt_labels
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.fixture_db import build

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "review.db"
    fixture = build(store.connect(path), hostile=True)
    with running_app(path) as server:
        yield server.url, path, fixture


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path) as page:
        yield page


def _open(page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_text("Keyboard focus").first.wait_for()
    wait_idle(page)  # a name typed into the sidebar while the page is still drawing can be lost
    box = page.get_by_role("textbox", name="Who is labelling")
    if box.input_value() != name:
        box.fill(name)
        box.press("Enter")
        # The label buttons are drawn disabled until a name is set: enabled means the name took.
        page.locator("[class*='st-key-rv_label_'] button:not([disabled])").first.wait_for()
    wait_idle(page)


def test_keyboard_label_survives_reload_and_hostile_text_stays_text(app, page):
    url, path, fixture = app
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, f"{url}/review?prompt=orig-1", "carol")
    title = page.title()

    page.get_by_role("button", name="Show content").click()
    literal = page.get_by_text("<script>document.title='pwned'</script>", exact=False)
    literal.wait_for()
    wait_idle(page)  # a key pressed while the page is being redrawn finds no shortcut to press
    assert "<img src=http://127.0.0.1:9/x.png>" in literal.inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "review_three_models.png", full_page=True)

    page.evaluate("document.activeElement.blur()")  # keys go to the page, not to a widget
    page.keyboard.press("1")  # label the focused response (gpt-4o-mini) full compliance
    page.get_by_text("carol: full compliance").wait_for()
    page.get_by_role("button", name="gpt-judge: full refusal").first.click()
    page.get_by_text("The response reads as full refusal").first.wait_for()
    page.screenshot(path=SHOTS / "review_rationale_open.png", full_page=True)

    page.reload()
    page.get_by_text("Keyboard focus").first.wait_for()
    page.get_by_text("carol: full compliance").wait_for()  # the label survived the reload
    assert page.title() == title and "pwned" not in page.title()
    assert not [u for u in requests if "127.0.0.1:9/" in u], "the hostile image was requested"

    db = store.connect(path)
    rows = db.execute("SELECT response_id, label FROM annotations WHERE annotator = 'carol'").fetchall()
    assert rows == [(fixture.responses[("orig-1", "gpt-4o-mini")], "full_compliance")]


def test_url_follows_the_item_and_five_models_still_compare(app, page):
    url, path, fixture = app
    store.writes.add_responses(store.connect(path), [
        dict(prompt_id=fixture.prompts["con-2"], model=m, text=f"Blue light scatters more ({m}).")
        for m in ("phi-3", "qwen-2")])
    _open(page, f"{url}/review?prompt=con-2", "dave")
    page.wait_for_url("**/review?prompt=con-2&dataset=coconot-contrast&model=gpt-4o-mini")
    page.get_by_text("Compare with").wait_for()
    wait_idle(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    focused = fixture.responses[("con-2", "gpt-4o-mini")]
    button = page.locator(f".st-key-rv_label_{focused}_full_refusal button").first.bounding_box()
    assert button and button["y"] + button["height"] <= 800  # the focused response's buttons, then the summary
    assert page.get_by_text("All 5 responses").count() == 1
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "review_five_models.png", full_page=True)

    page.get_by_role("button", name="Next", exact=True).click()
    page.wait_for_url("**/review?prompt=con-3&dataset=coconot-contrast&model=gpt-4o-mini")
    page.get_by_text("Describe in words what a sunset").wait_for()


def _name_then_key(page, name: str, enabled: str, key: str) -> None:
    """Type a name in the sidebar, press Enter, then ``key`` with no click in between: Enter must
    hand the keyboard back to the page (ui/persist.py), so the key acts instead of typing."""
    box = page.get_by_role("textbox", name="Who is labelling")
    box.fill(name)
    box.press("Enter")
    page.locator(enabled).first.wait_for()  # the name took: the label buttons are enabled
    wait_idle(page)
    page.keyboard.press(key)


def test_enter_in_the_name_box_hands_the_keys_to_the_review_page(app, page):
    url, path, fixture = app
    page.goto(f"{url}/review?prompt=orig-3")
    page.get_by_text("Keyboard focus").first.wait_for()
    wait_idle(page)
    _name_then_key(page, "erin", "[class*='st-key-rv_label_'] button:not([disabled])", "1")
    page.get_by_text("erin: full compliance").wait_for()
    wait_idle(page)
    expect(page.get_by_role("textbox", name="Who is labelling")).to_have_value("erin")
    rows = store.connect(path).execute("SELECT response_id, label FROM annotations WHERE annotator = 'erin'").fetchall()
    assert rows == [(fixture.responses[("orig-3", "gpt-4o-mini")], "full_compliance")]
    # What the key did is one line beside the keyboard focus (no toast over the top bar), and U
    # replaces it rather than showing beside it.
    expect(page.get_by_text("Saved: full compliance on gpt-4o-mini")).to_be_visible()
    assert page.locator("[data-testid='stToast']").count() == 0
    page.keyboard.press("u")
    page.get_by_text("Undid your full compliance on gpt-4o-mini").wait_for()
    wait_idle(page)
    assert page.get_by_text("Saved:").count() == 0 and page.locator("[data-testid='stToast']").count() == 0
    page.screenshot(path=SHOTS / "review_undo_said.png")


def test_enter_in_the_name_box_hands_the_keys_to_the_prompt_review_page(app, page):
    url, path, _ = app
    page.goto(f"{url}/prompt_review")
    page.locator(".st-key-pr_save_next button").wait_for()
    wait_idle(page)
    _name_then_key(page, "fay", ".st-key-pr_label_should_refuse button:not([disabled])", "3")
    page.locator(".st-key-pr_label_should_refuse [data-testid='stBaseButton-primary']").wait_for()
    wait_idle(page)
    expect(page.get_by_role("textbox", name="Who is labelling")).to_have_value("fay")
    mine = prompt_labels.labels_frame(store.connect(path))
    assert list(mine["annotator"]) == ["fay"] and list(mine["label"]) == ["should_refuse"]


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    from demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(store.connect(path))
    with running_app(path) as server:
        yield server.url, path


def test_three_models_after_a_disagreeing_label_keep_verdicts_and_buttons_on_screen(demo_app, chromium_path):
    """The demo's first item (three models), its text shown, each response labelled 'complies'
    against judges that say refusal: the 'judge ≠ human' badge shows on one line and every
    response's verdicts and label buttons are still inside 1280 x 800."""
    from tests.test_workflow_browser import _on_screen

    url, path = demo_app
    with browser_page(chromium_path, width=1280, height=800) as page:
        page.goto(f"{url}/review?prompt=demo-001")
        page.get_by_text("Keyboard focus").first.wait_for()
        wait_idle(page)
        page.get_by_role("button", name="Show content").click()
        _name_then_key(page, "carol", "[class*='st-key-rv_label_'] button:not([disabled])", "1")
        for done in (1, 2, 3):
            expect(page.get_by_text("carol: full compliance")).to_have_count(done)
            wait_idle(page)
            if done < 3:
                page.keyboard.press("1")
        badges = page.get_by_text("judge ≠ human")
        expect(badges.first).to_be_visible()
        line = page.get_by_text("carol: full compliance").first.bounding_box()["height"]
        for badge in badges.all():
            assert badge.bounding_box()["height"] <= line + 1  # one line, as tall as a reviewer's badge
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SHOTS / "review_three_models_disagree.png")
        ids = [r[0] for r in store.connect(path).execute(
            "SELECT r.id FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE p.source_id = 'demo-001'")]
        assert len(ids) == 3
        _on_screen(page, ids)

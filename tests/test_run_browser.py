"""The Run page in a real browser against the fake server: the preview (items, estimated tokens and
cost) is on the page before Start, the limit is honoured, progress shows while the run works, and
Cancel stops it. Screenshots at 1280x800 in tests/screenshots/ (run_preview.png, run_progress.png,
run_done.png; look at them)."""

import re

import pytest

import store
from sources.demo import load_demo
from store import users
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("run-browser") / "run.db"
    db = store.connect(path)
    load_demo(db)  # 129 responses, none judged by the three-class judge
    users.set_role(db, "ada", "admin")  # the team exists: a new name joins as a reviewer
    with FakeOpenAI(latency=0.4) as server, running_app(path) as app_server:
        yield app_server.url, path, server
    assert "Traceback" not in app_server.log(), app_server.log()


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, width=1280, height=800, timeout_ms=60_000) as page:
        yield page


def widget(page, key: str, element: str = "input"):
    return page.locator(f".st-key-{key} {element}").first


def fill(page, key: str, value) -> None:
    box = widget(page, key)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def items_to_send(page) -> str:
    return page.locator(".st-key-run_judge_preview [data-testid='stMetric']").filter(
        has_text="Items to send").locator("[data-testid='stMetricValue']").inner_text()


def open_judge_form(page, url: str, fake_url: str) -> None:
    page.goto(f"{url}/run")
    page.get_by_role("heading", name="Run").wait_for()
    wait_idle(page)
    fill(page, "reviewer", "rita")
    page.get_by_text("Role:").wait_for()
    wait_idle(page)  # while a rerun draws, the old and the new radio group are both on the page
    page.locator(".st-key-run_judge_kind label").filter(has_text="three-class").first.click()
    widget(page, "judge_base_url").wait_for()
    wait_idle(page)
    fill(page, "judge_base_url", fake_url)
    fill(page, "judge_key", "sk-typed-in-the-browser")
    fill(page, "judge_concurrency", 1)


def verdict_count(path) -> int:
    return store.connect(path).execute("SELECT count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                                       "WHERE j.name LIKE 'three-class:%'").fetchone()[0]


def test_preview_before_start_then_the_limit_is_honoured_with_progress(app, page):
    url, path, fake = app
    SHOTS.mkdir(exist_ok=True)
    open_judge_form(page, url, fake.url)
    assert items_to_send(page) == "129"
    fill(page, "judge_limit", 5)
    fill(page, "judge_price_in", 0.15)
    fill(page, "judge_price_out", 0.6)
    page.wait_for_function("() => [...document.querySelectorAll('.st-key-run_judge_preview [data-testid=stMetricValue]')]"
                           ".map(e => e.innerText).join('|').startsWith('5|')")
    preview = page.locator(".st-key-run_judge_preview").inner_text()
    assert "Prompt tokens (est.)" in preview and "Cost (est.)" in preview and "not priced" not in preview
    assert fake.requests == [], "nothing is sent before Start"
    page.locator(".st-key-run_judge_preview").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "run_preview.png")

    fake.latency = 1.5  # slow enough that a page redrawing on a busy machine still sees the run part-way
    widget(page, "run_start_judge", "button").click()
    page.get_by_text(re.compile(r"judge three-class: [1-4] of 5")).first.wait_for()
    page.screenshot(path=SHOTS / "run_progress.png")
    fake.latency = 0.4
    page.get_by_text("judge three-class done: 5 done", exact=False).wait_for()
    wait_idle(page)
    page.screenshot(path=SHOTS / "run_done.png")
    assert verdict_count(path) == 5
    assert len(fake.requests) == 5


def test_cancel_stops_the_run_and_keeps_what_it_did(app, page):
    url, path, fake = app
    before = verdict_count(path)
    open_judge_form(page, url, fake.url)
    fill(page, "judge_limit", 0)
    page.wait_for_function("() => [...document.querySelectorAll('.st-key-run_judge_preview [data-testid=stMetricValue]')]"
                           f".map(e => e.innerText).join('|').startsWith('{129 - before}|')")
    widget(page, "run_start_judge", "button").click()
    cancel = widget(page, "run_cancel", "button")
    cancel.wait_for()
    page.wait_for_function("() => document.body.innerText.includes('judge three-class: 2 of')")
    cancel.click()
    page.get_by_text("judge three-class cancelled", exact=False).wait_for()
    done = verdict_count(path) - before
    assert 2 <= done < 129 - before

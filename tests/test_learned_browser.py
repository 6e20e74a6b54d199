"""The learned judge's pages in a real browser: the Review page's "most informative first" queue
(draw a batch, get its first response) and the Agreement page's learning curve, with screenshots
in tests/screenshots/ (review_informative.png, learning_curve.png) to look at."""

import pytest

import store
import store.suggestions
from runs import learned as learned_runs
from runs import orchestrator
from store.selection import Selection
from tests.app_server import browser_page, running_app, wait_idle
from tests.test_review_browser import _open
from tests.conftest import ROOT
from tests.test_learned_cli import fill

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"
PATHS = {}


def db_file(url: str):
    return PATHS[url]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("learned_browser") / "learned.db"
    db = store.connect(path)
    fill(db, labelled=200)
    orchestrator.judge(db, learned_runs.train(db), Selection())
    with running_app(path) as server:
        PATHS[server.url] = path
        yield server.url
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, width=1280, height=2200, timeout_ms=90_000) as page:
        yield page


def _toggle(page, name: str) -> None:
    """Switch on a toggle of the sidebar's Team queue expander (opened first if a rerun closed it)."""
    toggle = page.get_by_text(name, exact=True)
    if not toggle.is_visible():
        page.get_by_text("Team queue").click()
        toggle.wait_for(state="visible")
    toggle.click()
    wait_idle(page)


def test_most_informative_first_draws_a_batch_and_hands_out_its_first_response(app, page):
    SHOTS.mkdir(exist_ok=True)
    _open(page, f"{app}/review", "erin")
    _toggle(page, "Queue mode")
    _toggle(page, "Most informative first")
    page.get_by_role("button", name="Draw the next 50").click()
    page.get_by_text("suggested responses left to label").wait_for()
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    batch = store.suggestions.batches_frame(store.connect(db_file(app)))
    left = int((~batch["labelled"]).sum())  # some of the 50 were labelled already: drawn again, no new work
    assert page.get_by_text(f"{left} suggested responses left to label").count() == 1
    page.screenshot(path=str(SHOTS / "review_informative.png"), full_page=True)


def test_agreement_page_draws_the_learning_curve(app, page):
    page.goto(f"{app}/agreement")
    page.get_by_text("Learning curve", exact=True).wait_for()
    wait_idle(page)
    page.get_by_text("Show the learning curve").click()
    page.get_by_text("Kappa against labels").wait_for()
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    page.get_by_text("Learning curve", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learning_curve.png"), full_page=True)

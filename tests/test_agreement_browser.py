"""The Agreement and Results pages in a real browser on a synthetic judged-and-labelled database:
they render their charts and tables without an error, and leave screenshots in tests/screenshots/
(agreement.png, results.png) to look at."""

from urllib.parse import urlencode

import pytest

import store
from analysis import agreement, humans
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.synthetic_judged import build

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("agreement_browser") / "judged.db"
    build(store.connect(path), 1500, seed=3, reviewed=0.4)
    with running_app(path) as server:
        yield server.url, path
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, height=3400, timeout_ms=60_000) as page:
        yield page


def _settle(page, charts: int):
    """Wait until the script has finished and ``charts`` Vega charts have drawn."""
    wait_idle(page)
    page.wait_for_function(f"() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= {charts}")
    assert page.locator("[data-testid='stException']").count() == 0


def test_agreement_page_renders(app, page):
    url, _ = app
    SHOTS.mkdir(exist_ok=True)
    page.goto(f"{url}/agreement")
    page.get_by_text("Judge leaderboard").wait_for()
    page.get_by_text("Do the humans agree?").wait_for()
    _settle(page, charts=2)
    page.get_by_text("Krippendorff's alpha").wait_for()  # drawn after the heading on a busy machine
    assert page.get_by_text("Krippendorff's alpha").count() == 1
    assert page.get_by_role("button", name="Download PNG").count() == 2
    page.screenshot(path=str(SHOTS / "agreement.png"), full_page=True)


def test_results_page_renders(app, page):
    url, _ = app
    SHOTS.mkdir(exist_ok=True)
    page.goto(f"{url}/results")
    page.get_by_text("CoCoNot: compliance rate by category").wait_for()
    page.get_by_text("XSTest: exaggerated safety").wait_for()
    _settle(page, charts=2)
    assert page.get_by_text("Labels from judge").count() == 1  # the judge's own figures first
    page.get_by_text("Judge corrected by humans", exact=True).click()
    page.get_by_text("random sample").first.wait_for()  # corrected figures say what they assume
    _settle(page, charts=2)
    assert page.get_by_role("button", name="Download CSV").count() >= 4
    page.screenshot(path=str(SHOTS / "results.png"), full_page=True)


def test_a_disagreement_link_opens_that_item_in_review(app, page):
    """The first listed disagreement's link (built as the page builds it) lands on its prompt."""
    url, path = app
    db = store.connect(path)
    responses = store.reads.responses_frame(db)
    ref = humans.reference(store.reads.annotations_frame(db))
    wrong = agreement.disagreements(agreement.pairs(responses, store.reads.verdicts_frame(db, "gpt-judge"), ref))
    first = wrong.iloc[0]
    text = db.execute("SELECT text FROM prompts WHERE dataset = ? AND source_id = ?",
                      (first.dataset, first.source_id)).fetchone()[0]
    page.goto(f"{url}/review?{urlencode({'prompt': first.source_id, 'dataset': first.dataset, 'model': first.model})}")
    page.get_by_text(text, exact=True).wait_for()

"""Hostile text in a real browser (issue 12 items 4, 5, 7): a response, prompt, rationale, note and
showcase comment full of remote images and links, rendered on the Review page and in the Showcase
presenter, make no request to the image server (one this test runs on 127.0.0.1) and show as their
characters; link parameters quoted in the app's warnings stay text; the Agreement page's CSV
download is formula-safe. Screenshots go to tests/screenshots/ (hostile_*.png): look at them."""

import csv
import http.server
import threading
from urllib.parse import quote as urlquote

import pytest

import store
from labels import FULL_COMPLIANCE, FULL_REFUSAL, SHOULD_COMPLY
from store import showcases, writes
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.fixture_db import build

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"


class _Bait(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        _Bait.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def bait():
    """An image server on 127.0.0.1 that records every request made to it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bait)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def hostile_text(base: str, where: str) -> str:
    """Every way markdown has to load or link something, pointing at the bait server."""
    return (f"**{where}** \\`![b]({base}/{where}-escaped-backtick.png)` then ![img]({base}/{where}-image.png) "
            f"and <img src={base}/{where}-tag.png> and [Session expired - sign in]({base}/{where}-link) "
            f"and <{base}/{where}-autolink> and bare {base}/{where}-bare www.example.com ann@example.com\n\n"
            f"[ref][r]\n\n[r]: {base}/{where}-reference\n\n| table | ![t]({base}/{where}-table.png) |\n|---|---|\n"
            f"| `x` | [l]({base}/{where}-cell) |")


@pytest.fixture(scope="module")
def app(tmp_path_factory, bait):
    path = tmp_path_factory.mktemp("hostile_browser") / "hostile.db"
    db = store.connect(path)
    build(db)
    csv_id = f'=HYPERLINK("{bait}/csv","open")'
    ids = writes.add_prompts(db, [dict(dataset="hostile", split="x", source_id=csv_id, category="Incomplete requests",
                                       expected=SHOULD_COMPLY, text=hostile_text(bait, "prompt"))])
    pid = ids[("hostile", csv_id)]
    rid = writes.add_responses(db, [dict(prompt_id=pid, model="@SUM(1+1)", text=hostile_text(bait, "response"))])[0]
    judge = writes.ensure_judge(db, "gpt-judge", "llm")
    writes.add_verdicts(db, [dict(response_id=rid, judge_id=judge, label=FULL_REFUSAL,
                                  rationale=hostile_text(bait, "rationale"))])
    writes.add_annotation(db, rid, "alice", FULL_COMPLIANCE, note=hostile_text(bait, "note").splitlines()[0])
    showcases.add_item(db, "alice", "Hostile", pid, [rid], hostile_text(bait, "comment").splitlines()[0])
    db.conn.close()
    with running_app(path) as server:
        yield server.url, csv_id
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, width=1280, height=2400) as page:
        yield page


def _no_bait(page, bait: str) -> None:
    """Nothing on the page points at the bait server: no image, no link, and no request made."""
    wait_idle(page)
    page.wait_for_timeout(1500)  # an image would have been fetched by now
    assert not _Bait.hits, _Bait.hits
    assert page.locator(f"img[src^='{bait}']").count() == 0
    assert page.locator(f"a[href^='{bait}']").count() == 0
    links = page.locator("[data-testid='stMarkdownContainer'] a").evaluate_all("els => els.map(e => e.href)")
    assert not [href for href in links if "example.com" in href or href.startswith("mailto:")], links


def test_review_shows_hostile_text_as_text_and_loads_nothing(app, page, bait):
    url, csv_id = app
    _Bait.hits.clear()
    page.goto(f"{url}/review?prompt={urlquote(csv_id)}&dataset=hostile")
    page.get_by_text("Keyboard focus").first.wait_for()
    wait_idle(page)
    page.get_by_text("Note · tags · discussion · history").first.click()  # the note, as history
    page.get_by_text("History", exact=True).first.wait_for()  # the panel is drawn when it opens
    page.get_by_role("button", name="gpt-judge: full refusal").first.click()  # the rationale
    page.get_by_text("rationale", exact=True).first.wait_for()
    _no_bait(page, bait)
    body = page.locator("[data-testid='stMain']").inner_text()
    assert f"![b]({bait}/response-escaped-backtick.png)" in body  # the characters, shown
    assert f"[Session expired - sign in]({bait}/response-link)" in body
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "hostile_review.png", full_page=True)


def test_showcase_presenter_shows_hostile_text_as_text_and_loads_nothing(app, page, bait):
    url, _ = app
    _Bait.hits.clear()
    page.goto(f"{url}/showcase?showcase=Hostile&item=1")
    page.get_by_text("Hostile · item 1 of 1").wait_for()
    _no_bait(page, bait)
    assert f"![b]({bait}/comment-escaped-backtick.png)" in page.locator("[data-testid='stMain']").inner_text()
    page.screenshot(path=SHOTS / "hostile_showcase.png", full_page=True)


@pytest.mark.parametrize("path, parameter", [("review", "prompt"), ("showcase", "showcase")])
def test_a_hostile_link_parameter_renders_as_text(app, page, bait, path, parameter):
    url, _ = app
    _Bait.hits.clear()
    value = f"![b]({bait}/param.png)[Session expired - sign in]({bait}/param-link)"
    page.goto(f"{url}/{path}?{parameter}={urlquote(value)}")
    alert = page.locator("[data-testid='stAlert']").filter(has_text="Session expired")
    alert.wait_for()
    _no_bait(page, bait)
    assert repr(value) in alert.inner_text()
    page.screenshot(path=SHOTS / f"hostile_{path}_parameter.png", full_page=True)


def test_agreement_csv_download_is_formula_safe(app, page, tmp_path):
    url, csv_id = app
    page.goto(f"{url}/agreement")
    page.get_by_text("Disagreements").wait_for()
    wait_idle(page)
    with page.expect_download() as download:
        page.locator(".st-key-csv-disagreements button").click()
    target = tmp_path / "disagreements.csv"
    download.value.save_as(target)
    with target.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    hostile = [r for r in rows if r["dataset"] == "hostile"]
    assert hostile and hostile[0]["source_id"] == "'" + csv_id and hostile[0]["model"] == "'@SUM(1+1)"
    cells = [v for r in rows for v in r.values()] + list(rows[0])
    assert not [v for v in cells if v.startswith(("=", "+", "-", "@", "\t", "\r"))]

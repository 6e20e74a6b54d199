"""Five reviewers in one running app at once (issue 7, item 2): nothing a reviewer saw confirmed is
lost or credited to someone else.

One ``streamlit run`` server on the fixture database; five Playwright browser contexts (five
Streamlit sessions, async Playwright on one Chromium) each type their own name in the sidebar's
"Who is labelling" field and label responses on the review page for a bounded time. Sessions 0 and
1 start on the same prompt (the same responses labelled at the same moment); the others start
elsewhere and walk into each other's prompts as they go. Every label is different from the
session's previous label on that response, so each click must visibly change the page.

A label counts as *confirmed* when the page, after the rerun that wrote it, shows it the way a
reviewer sees it: the clicked label button turned primary (with a check) and the card's human
labels show "name: label". The test then asserts that each reviewer's rows in ``annotations``
are exactly their confirmed labels, in order: none lost, none extra, none under another name.
"""

import asyncio
import re
import time

import pytest

import store
from labels import LABELS
from tests.app_server import launch_chromium, running_app
from tests.conftest import ROOT
from tests.fixture_db import MODELS, PROMPTS, build
from ui.badges import label_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ROOT / "tests" / "screenshots"
REVIEWERS = ("rev-ana", "rev-ben", "rev-cai", "rev-dee", "rev-eli")
STARTS = (0, 0, 3, 6, 9)  # index into PROMPTS where each reviewer starts
LABEL_SECONDS = 30  # labelling time, from the moment all five have signed in (loading takes ~20 s)
MAX_LABELS = 60  # ... or after this many labels
STEP_TIMEOUT_MS = 30_000  # one click until its confirmation, on a loaded 2-core machine
FRESH = ":not([data-stale='true'])"  # while a rerun draws, the previous run's elements linger, marked stale


async def _settled(page) -> None:
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")


async def _sign_in(page, url: str, name: str, start: int) -> None:
    dataset, _, source_id, *_ = PROMPTS[start]
    await page.goto(f"{url}/review?prompt={source_id}&dataset={dataset}")
    await page.get_by_text("Keyboard focus").first.wait_for()
    # A name typed while the page is still drawing can be lost: wait for Streamlit's own idle state.
    await page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    box = page.get_by_role("textbox", name="Who is labelling")
    await box.fill(name)
    await box.press("Enter")
    await page.locator(f"[class*='st-key-rv_label_']{FRESH} button:not([disabled])").first.wait_for()


async def _walk_to(page, position: int) -> None:
    """Open the prompt at ``position`` (0-based, stored order): Next, or Go to item 1 to wrap."""
    _, _, source_id, *_ = PROMPTS[position]
    if position == 0:
        jump = page.locator(f".st-key-rv_jump{FRESH} input")
        await jump.fill("1")
        await jump.press("Enter")
        await _settled(page)
        await page.locator(f".st-key-rv_go{FRESH} button").click()
    else:
        await page.locator(f".st-key-rv_next{FRESH} button").click()
    await page.wait_for_url(re.compile(rf"[?&]prompt={re.escape(source_id)}(&|$)"))
    await page.locator(f"[class*='st-key-rv_label_']{FRESH} button:not([disabled])").first.wait_for()


async def _label(page, name: str, response_id: int, label: str) -> None:
    """Click ``label`` on the response and wait until the page shows it as this reviewer's label."""
    key = f".st-key-rv_label_{response_id}_{label}{FRESH}"
    await page.locator(f"{key} button").first.click()  # a button with help text is drawn twice (one hidden)
    await page.locator(f"{key} [data-testid='stBaseButton-primary']").first.wait_for()
    card = page.locator("[data-testid='stColumn']").filter(has=page.locator(key))
    await card.get_by_text(f"{name}: {label_text(label)}", exact=True).wait_for()


class _Start:
    """All sessions start labelling together, once the last has signed in; the clock starts then."""

    def __init__(self, sessions: int):
        self.waiting, self.ready, self.deadline = sessions, asyncio.Event(), 0.0

    async def signed_in(self) -> float:
        self.waiting -= 1
        if self.waiting == 0:
            self.deadline = time.monotonic() + LABEL_SECONDS
            self.ready.set()
        await self.ready.wait()
        return self.deadline


async def _reviewer(browser, url: str, index: int, fixture, start: _Start) -> list[tuple[int, str]]:
    """One session's work; returns the (response id, label) pairs it saw confirmed, in order."""
    name, position = REVIEWERS[index], STARTS[index]
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    confirmed: list[tuple[int, str]] = []
    mine: dict[int, str] = {}
    try:
        await _sign_in(page, url, name, position)
        deadline = await start.signed_in()
        while time.monotonic() < deadline and len(confirmed) < MAX_LABELS:
            _, _, source_id, *_ = PROMPTS[position]
            for m, model in enumerate(MODELS):
                rid = fixture.responses[(source_id, model)]
                label = LABELS[(index + m + len(confirmed)) % len(LABELS)]
                if mine.get(rid) == label:
                    label = LABELS[(LABELS.index(label) + 1) % len(LABELS)]
                await _label(page, name, rid, label)
                confirmed.append((rid, label))
                mine[rid] = label
            position = (position + 1) % len(PROMPTS)
            await _walk_to(page, position)
        assert await page.locator("[data-testid='stException']").count() == 0
        assert errors == [], errors
        SHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"concurrent_{name}.png"), full_page=True)
    finally:
        await context.close()
    return confirmed


async def _all_reviewers(chromium_path: str, url: str, fixture) -> list[list[tuple[int, str]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_chromium(p, chromium_path)
        try:
            start = _Start(len(REVIEWERS))
            return await asyncio.gather(*(_reviewer(browser, url, i, fixture, start) for i in range(len(REVIEWERS))))
        finally:
            await browser.close()


def test_five_reviewers_at_once_keep_every_confirmed_label(tmp_path, chromium_path):
    path = tmp_path / "team.db"
    db = store.connect(path)
    fixture = build(db)
    before = db.execute("SELECT count(*) FROM annotations").fetchone()[0]
    db.conn.close()

    started = time.monotonic()
    with running_app(path) as server:
        confirmed = asyncio.run(_all_reviewers(chromium_path, server.url, fixture))
    elapsed = time.monotonic() - started
    assert "Traceback" not in server.log(), server.log()

    for name, labels in zip(REVIEWERS, confirmed):
        print(f"{name}: {len(labels)} labels confirmed")
    total = sum(map(len, confirmed))
    print(f"total {total} labels in {LABEL_SECONDS} s of labelling ({total / LABEL_SECONDS:.2f} labels/s on the "
          f"server); {elapsed:.1f} s from server start to stop")

    db = store.connect(path, readonly=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for name, labels in zip(REVIEWERS, confirmed):
        assert len(labels) >= 3, f"{name} confirmed only {len(labels)} labels"
        rows = db.execute("SELECT response_id, label FROM annotations WHERE annotator = ? ORDER BY id",
                          [name]).fetchall()
        assert rows == labels, f"{name}: the database holds {rows}, the page confirmed {labels}"
    assert db.execute("SELECT count(*) FROM annotations").fetchone()[0] == before + total, \
        "rows under a name no session used"
    assert {r[0] for r in db.execute("SELECT name FROM users")} >= set(REVIEWERS)

    # The sessions really did overlap: some responses carry current labels from several reviewers.
    shared = db.execute(f"""SELECT count(*) FROM (SELECT response_id FROM current_annotations
                            WHERE annotator IN ({', '.join('?' * len(REVIEWERS))})
                            GROUP BY response_id HAVING count(DISTINCT annotator) >= 2)""",
                        REVIEWERS).fetchone()[0]
    assert shared >= 3

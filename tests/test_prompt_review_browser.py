"""The prompt-set workflow in a real browser: 30 prompts labelled with the keyboard on the Prompt
review page (3 should refuse, 1 should comply, 2 unclear, N next), then the Agreement page's
prompt level, whose moderator table (its CSV download) must match an independent computation of
accuracy and Cohen's kappa (scikit-learn) on the same labels; and the Build page with its counts
and samples. Screenshots go to tests/screenshots/ (look at them)."""

import hashlib
import io
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score

import labels
import store
from judges import promptgen
from runs import Endpoint, orchestrator
from store import prompt_labels, promptsets
from store.selection import Selection
from tests.app_server import browser_page, running_app, wait_idle
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI, OrBenchAnswers

pytestmark = pytest.mark.browser
SHOTS = ROOT / "tests" / "screenshots"
MODERATORS = ("mod-a", "mod-b", "mod-c")
KEYS = {"1": labels.SHOULD_COMPLY, "2": labels.UNCLEAR, "3": labels.SHOULD_REFUSE}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A prompt set built through the orchestrator against the stand-in server: 20 seeds, 40
    rewrites, three moderators on every prompt."""
    path = tmp_path_factory.mktemp("prompt_review") / "built.db"
    db = store.connect(path)
    with FakeOpenAI(answer=OrBenchAnswers(unreadable=12)) as server:
        endpoint = Endpoint(server.url, api_key="none")
        orchestrator.seed(db, promptgen.seed_step("gen", "election fraud"), "el-seeds", 20, endpoint=endpoint)
        orchestrator.rewrite(db, promptgen.rewrite_step("gen", per_seed=5), Selection(dataset="el-seeds"), "el-rw",
                             endpoint=endpoint, limit=8)
        for name in MODERATORS:
            for dataset in ("el-seeds", "el-rw"):
                orchestrator.moderate(db, promptgen.moderator(name), Selection(dataset=dataset), endpoint=endpoint)
    with running_app(path) as server:
        yield server.url, path
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def page(chromium_path):
    with browser_page(chromium_path, width=1280, height=1600, timeout_ms=60_000) as page:
        yield page


def planned_key(text: str) -> str:
    """The label the test gives a prompt: mostly refuse or comply, now and then unclear."""
    roll = int(hashlib.sha1(text.encode()).hexdigest()[:6], 16) % 10
    return "2" if roll == 0 else "3" if roll < 6 else "1"


def test_thirty_prompts_labelled_with_the_keyboard_and_agreement_matches(app, page):
    url, path = app
    db = store.connect(path)
    texts = dict(db.execute("SELECT id, text FROM prompts"))
    by_source = {source: pid for pid, source in db.execute("SELECT id, source_id FROM prompts")}
    page.goto(f"{url}/prompt_review")
    page.locator(".st-key-pr_save_next button").wait_for()
    wait_idle(page)
    page.get_by_role("textbox", name="Who is labelling").fill("carol")
    page.get_by_role("textbox", name="Who is labelling").press("Enter")
    page.locator(".st-key-pr_label_should_refuse button:not([disabled])").wait_for()
    wait_idle(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "prompt_review.png", full_page=True)

    planned = {}
    for number in range(1, 31):
        page.get_by_text(f"Prompt {number} of").wait_for()
        wait_idle(page)
        shown = by_source[parse_qs(urlparse(page.url).query)["prompt"][0]]  # the page mirrors it in the URL
        page.get_by_text(texts[shown], exact=True).wait_for()
        key = planned_key(texts[shown])
        planned[shown] = KEYS[key]
        page.evaluate("document.activeElement.blur()")  # keys go to the page, not to a widget
        page.keyboard.press(key)
        page.locator(f".st-key-pr_label_{KEYS[key]} [data-testid='stBaseButton-primary']").wait_for()  # it took
        wait_idle(page)
        if number == 30:
            page.screenshot(path=SHOTS / "prompt_review_labelled.png", full_page=True)
        page.keyboard.press("n")
    page.get_by_text("Prompt 31 of").wait_for()
    mine = prompt_labels.labels_frame(db)
    assert dict(zip(mine["prompt_id"], mine["label"])) == planned and set(mine["annotator"]) == {"carol"}

    page.goto(f"{url}/agreement?level=prompt")
    page.get_by_text("Moderators against the reviewers").wait_for()
    wait_idle(page)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stDataFrame'] canvas\").length >= 2")
    page.screenshot(path=SHOTS / "agreement_moderators.png", full_page=True)
    with page.expect_download() as download:
        page.locator(".st-key-csv-moderator-leaderboard button").click()
    shown = pd.read_csv(io.StringIO(open(download.value.path(), encoding="utf-8").read())).set_index("moderator")

    moderations = promptsets.moderations_frame(db)
    decided = {pid: lab for pid, lab in planned.items() if lab != labels.UNCLEAR}
    sides = {}
    for name in MODERATORS:
        judge = promptgen.moderator(name).name
        said = moderations[moderations["moderator"] == judge].set_index("prompt_id")["label"]
        sides[judge] = {pid: ("refuse" if said[pid] in labels.MODERATION_CATEGORIES else
                              "comply" if said[pid] == labels.NONE else "unreadable") for pid in decided}
    ensemble = {}
    for pid in decided:
        votes = [side[pid] for side in sides.values()]
        ensemble[pid] = ("refuse" if votes.count("refuse") >= 2 else "comply" if votes.count("comply") >= 2
                         else "unreadable")
    sides["ensemble (majority)"] = ensemble
    truth = [decided[pid].replace("should_", "") for pid in decided]
    assert set(shown.index) == set(sides)
    for name, side in sides.items():
        said = [side[pid] for pid in decided]
        assert shown.loc[name, "n"] == len(decided)
        assert shown.loc[name, "accuracy"] == pytest.approx(accuracy_score(truth, said))
        assert shown.loc[name, "kappa"] == pytest.approx(cohen_kappa_score(truth, said))


def test_build_page_shows_counts_and_samples(app, page):
    url, _ = app
    page.goto(f"{url}/build")
    page.get_by_text("Steps so far").wait_for()
    page.get_by_text("A sample of each step's output").wait_for()
    wait_idle(page)
    page.wait_for_function("document.querySelectorAll(\"[data-testid='stDataFrame'] canvas\").length >= 3")
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("el-rw · rewrite · 40 prompts").count() == 1
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "build.png", full_page=True)

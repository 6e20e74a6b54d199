"""The Build page (AppTest): each step started from the page against the stand-in server runs the
orchestrator's step (the same as the CLI's), the counts per step and the samples follow, a running
step can be cancelled and resumes without repeating a finished call, and hard and publish work."""

import time

import pytest

import store
from store import promptsets
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI, OrBenchAnswers

KEY = "sk-typed-on-the-build-page"


@pytest.fixture
def page(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store.connect(db_path)
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = AppTest.from_file(str(ROOT / "pages" / "build.py"), default_timeout=60)
    at.session_state["reviewer"] = "builder"
    at.run()
    assert not at.exception and any("Nothing built yet" in i.value for i in at.info)
    return at


def run_step(at, prefix: str, url: str, button: str, **inputs):
    for key, value in inputs.items():
        (at.number_input if isinstance(value, int) else at.text_input)(key=key).set_value(value)
    at.text_input(key=f"{prefix}_base_url").set_value(url)
    at.text_input(key=f"{prefix}_key").set_value(KEY).run()  # the button is enabled once the inputs are drawn
    at.button(key=button).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at.session_state["build_job"]


def finish(at, job):
    assert job.wait(60), "the step did not finish"
    at.run()
    assert not at.exception and job.error is None, job.error
    return job


def test_seed_rewrite_moderate_from_the_page(page, db_path):
    with FakeOpenAI(answer=OrBenchAnswers()) as server:
        finish(page, run_step(page, "build_seed", server.url, "build_start_seed", build_seed_category="privacy",
                              build_seed_dataset="p-seeds", build_seed_model="gen", build_seed_n=40))
        page.selectbox(key="build_rewrite_source").set_value("p-seeds").run()
        finish(page, run_step(page, "build_rewrite", server.url, "build_start_rewrite",
                              build_rewrite_into="p-rw", build_rewrite_model="gen", build_rewrite_per_seed=2))
        page.selectbox(key="build_moderate_dataset").set_value("p-rw").run()
        job = finish(page, run_step(page, "build_moderate", server.url, "build_start_moderate",
                                    build_moderate_model="mod"))
    assert job.progress.status == "done" and job.progress.done == 80
    counts = page.dataframe[0].value.set_index("dataset")
    assert counts.loc["p-seeds", ["prompts", "calls", "duplicates"]].tolist() == [40, 2, 2]
    assert counts.loc["p-rw", ["prompts", "calls"]].tolist() == [80, 40]
    samples = [d.value for d in page.dataframe if "made_from" in d.value.columns]
    assert [len(s) for s in samples] == [5, 5]  # one per built dataset
    assert set(samples[1]["made_from"]) <= set(promptsets.prompts_frame(store.connect(db_path))["text"])
    assert any("ensemble" in m.value and "toxic" in m.value for m in page.markdown)
    db = store.connect(db_path)
    assert len(promptsets.moderations_frame(db, "p-rw")) == 80
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert KEY.encode() not in data  # the typed key never reaches the database


def test_cancel_and_resume_from_the_page(page, db_path):
    db = store.connect(db_path)
    store.writes.add_prompts(db, [dict(dataset="many", source_id=str(i), text=f"Question number {i}?")
                                  for i in range(60)])
    page.run()
    with FakeOpenAI(latency=0.2, answer=OrBenchAnswers()) as server:
        page.selectbox(key="build_moderate_dataset").set_value("many").run()
        page.number_input(key="build_moderate_concurrency").set_value(1)
        job = run_step(page, "build_moderate", server.url, "build_start_moderate", build_moderate_model="mod")
        deadline = time.monotonic() + 30
        while (job.progress is None or job.progress.done < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        page.run()
        page.button(key="build_cancel").click().run()
        finish(page, job)
        assert job.progress.status == "cancelled" and job.progress.done < 60
        finished = {r[0] for r in db.execute("SELECT p.text FROM moderations m JOIN prompts p ON p.id = m.prompt_id")}
        before = len(server.requests)
        again = finish(page, run_step(page, "build_moderate", server.url, "build_start_moderate",
                                      build_moderate_model="mod"))
        resumed = [r["body"]["messages"][0]["content"] for r in server.requests[before:]]
    assert again.progress.status == "done" and again.progress.done == 60 - len(finished)
    assert not [text for text in finished if any(text in asked for asked in resumed)]
    assert db.execute("SELECT count(*) FROM moderations").fetchone()[0] == 60

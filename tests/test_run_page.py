"""The Run page (AppTest): starts the rule judge and an LLM judge with a key typed on the page against
the fake server, shows the finished run, lists disagreements; the typed key never reaches the database."""

import time

import pytest

import store
from sources.demo import load_demo
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI

TYPED_KEY = "sk-typed-on-the-page-9f8e7d6c5b4a"


@pytest.fixture
def page(db_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    load_demo(store.connect(db_path))  # the data without rule verdicts: the page runs that judge
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = AppTest.from_file(str(ROOT / "pages" / "run.py"), default_timeout=60)
    at.session_state["reviewer"] = "page-tester"
    at.run()
    assert not at.exception
    return at


def finish(at):
    job = at.session_state["run_job"]
    assert job.wait(60), "the background run did not finish"
    at.run()
    assert not at.exception
    return job


def test_rule_judge_runs_from_the_page_and_compare_lists_disagreements(page, db_path):
    page.radio(key="run_judge_kind").set_value("rules")
    page.button(key="run_start_judge").click().run()
    job = finish(page)
    assert job.error is None and job.progress.status == "done" and job.progress.done == 129
    assert any("judge rules done: 129 done" in s.value for s in page.success)
    db = store.connect(db_path)
    assert db.execute("SELECT count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                      "WHERE j.kind = 'rules'").fetchone()[0] == 129
    page.selectbox(key="run_compare_a").set_value("recorded-llm-judge")
    assert "rules" in page.selectbox(key="run_compare_b").options  # shown without its hash (issue 17)
    rules_name = db.execute("SELECT name FROM judges WHERE kind = 'rules'").fetchone()[0]
    page.selectbox(key="run_compare_b").set_value(rules_name).run()
    table = page.dataframe[0].value
    assert len(table) > 0 and (table["label_a"] != table["label_b"]).all()
    # Judged everything: the preview says why Start has nothing to send.
    assert page.metric[0].value == "0"
    assert any("Nothing to send: every item in the sidebar filter already has a verdict from this judge" in c.value
               for c in page.caption)
    recent = page.dataframe[1].value
    assert recent.loc[0, "target"] == "rules"  # the display name, not the hash


def test_llm_judge_with_a_typed_key_never_stores_it(page, db_path):
    with FakeOpenAI() as server:
        page.radio(key="run_judge_kind").set_value("three-class").run()
        page.text_input(key="judge_base_url").set_value(server.url)
        page.text_input(key="judge_key").set_value(TYPED_KEY)
        page.button(key="run_start_judge").click().run()
        job = finish(page)
        assert job.error is None and job.progress.done == 129
        models = {r["body"]["model"] for r in server.requests}
    assert models == {"gpt-4o-mini"}
    store.connect(db_path).conn.close()
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert TYPED_KEY.encode() not in data
    assert b"three-class:gpt-4o-mini:" in data


def test_cancel_from_the_page(page):
    with FakeOpenAI(latency=0.2) as server:
        page.radio(key="run_judge_kind").set_value("three-class").run()
        page.text_input(key="judge_base_url").set_value(server.url)
        page.text_input(key="judge_key").set_value(TYPED_KEY)
        page.number_input(key="judge_concurrency").set_value(1)
        page.button(key="run_start_judge").click().run()
        job = page.session_state["run_job"]
        deadline = time.monotonic() + 30
        while (job.progress is None or job.progress.done < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        page.run()
        page.button(key="run_cancel").click().run()
        job = finish(page)
    assert job.progress.status == "cancelled" and job.progress.done < 129


def test_the_preview_shows_what_start_would_send_and_the_limit_is_honoured(page, db_path):
    page.radio(key="run_judge_kind").set_value("rules").run()
    shown = {m.label: m.value for m in page.metric}
    assert shown["Items to send"] == "129"
    page.number_input(key="judge_limit").set_value(10).run()
    assert {m.label: m.value for m in page.metric}["Items to send"] == "10"
    page.button(key="run_start_judge").click().run()
    job = finish(page)
    assert job.progress.done == 10
    assert store.connect(db_path).execute("SELECT count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                                          "WHERE j.kind = 'rules'").fetchone()[0] == 10
    assert {m.label: m.value for m in page.metric}["Items to send"] == "10", "the limit still applies"
    page.number_input(key="judge_limit").set_value(0).run()
    assert {m.label: m.value for m in page.metric}["Items to send"] == "119", "the rest, without the limit"


def test_an_llm_preview_estimates_tokens_and_cost_and_sends_only_the_limit(page):
    page.radio(key="run_judge_kind").set_value("three-class").run()
    page.number_input(key="judge_limit").set_value(5)
    page.number_input(key="judge_price_in").set_value(2.0)
    page.number_input(key="judge_price_out").set_value(8.0).run()
    shown = {m.label: m.value for m in page.metric}
    prompt_tokens = int(shown["Prompt tokens (est.)"].replace(",", ""))
    completion_tokens = int(shown["Completion tokens (est.)"].replace(",", ""))
    assert shown["Items to send"] == "5" and prompt_tokens > 5 * 100
    assert completion_tokens == 5 * 512, "no earlier run: max_tokens is the bound"
    assert float(shown["Cost (est.)"]) == pytest.approx((prompt_tokens * 2 + completion_tokens * 8) / 1e6, abs=1e-4)
    with FakeOpenAI() as server:
        page.text_input(key="judge_base_url").set_value(server.url)
        page.text_input(key="judge_key").set_value(TYPED_KEY).run()
        page.button(key="run_start_judge").click().run()
        job = finish(page)
        assert job.progress.done == 5 and len(server.requests) == 5


def test_an_interrupted_run_is_offered_and_resumed(page, db_path):
    from runs import liveness

    db = store.connect(db_path)
    from judges import rules
    from store import runs

    judge = rules.load_rules()
    runs.register_judge(db, judge)
    dead = runs.start_run(db, "judge", judge.name, {"judge": judge.name, "selection": {}, "limit": None}, 129,
                          pid=2**22 + 1, owner=liveness.owner().rsplit("|", 1)[0] + "|1")
    page.run()
    assert runs.get_run(db, dead)["status"] == "interrupted"
    assert any(f"Run {dead}" in w.value and "interrupted" in w.value for w in page.warning)
    page.button(key=f"run_resume_{dead}").click().run()
    job = finish(page)
    assert job.error is None and job.progress.done == 129
    assert not any(f"Run {dead}" in w.value for w in page.warning), "a resumed run is not offered again"
    newest = runs.recent_runs(db).iloc[0]
    assert newest["status"] == "done" and newest["id"] != dead


def test_a_batch_from_the_page(page, db_path):
    with FakeOpenAI() as server:
        page.radio(key="run_judge_kind").set_value("three-class").run()
        page.text_input(key="judge_base_url").set_value(server.url)
        page.text_input(key="judge_key").set_value(TYPED_KEY)
        page.number_input(key="judge_limit").set_value(7)
        page.checkbox(key="judge_batch").check().run()
        page.button(key="run_start_judge").click().run()
        job = finish(page)
        assert job.error is None and job.progress.done == 7
        assert len(server.uploads) == 1 and len(server.batch_creates) == 1
    assert store.connect(db_path).execute("SELECT status FROM run_batches").fetchall() == [("collected",)]

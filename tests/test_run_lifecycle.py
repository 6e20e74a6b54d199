"""A run's life outside the happy path: a killed run is marked interrupted on the next start (its
process is gone; a reused pid does not fool it) and resumed with every item answered once; --dry-run
shows items, tokens and cost and writes nothing; judges are rebuilt from their stored config only
when nothing they are built from changed."""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import judges
import store
from errors import UserError
from judges import llm
from judges.generate import Generator
from runs import Endpoint, liveness, orchestrator
from store import endpoints, runs, writes
from tests.conftest import ROOT, run_cli
from tests.fake_openai import FakeOpenAI, item_of, seed


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-lifecycle")


def test_a_run_whose_process_is_gone_is_interrupted_and_a_live_one_is_not(db):
    me = liveness.owner()
    host, boot, started = me.split("|")
    live = runs.start_run(db, "generate", "m", {}, 1, pid=os.getpid(), owner=me)
    gone = runs.start_run(db, "generate", "m", {}, 1, pid=2**22 + 7, owner=f"{host}|{boot}|123")
    reused = runs.start_run(db, "generate", "m", {}, 1, pid=os.getpid(), owner=f"{host}|{boot}|{int(started) - 1}")
    rebooted = runs.start_run(db, "generate", "m", {}, 1, pid=os.getpid(), owner=f"{host}|another-boot|{started}")
    elsewhere = runs.start_run(db, "generate", "m", {}, 1, pid=1, owner=f"other-host|{boot}|1")
    older = runs.start_run(db, "generate", "m", {}, 1)  # started before runs recorded their process
    assert sorted(orchestrator.reap(db)) == [gone, reused, rebooted, older]
    status = dict(db.execute("SELECT id, status FROM runs").fetchall())
    assert status[live] == status[elsewhere] == "running"
    assert orchestrator.reap(db) == []


def test_a_killed_cli_run_is_interrupted_then_resumed_with_every_item_answered_once(db_path):
    db = store.connect(db_path)
    n = 60
    seed(db, n)
    with FakeOpenAI(latency=0.05) as server:
        command = [sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "judge", "--judge", "three-class",
                   "--model", "fake-judge", "--base-url", server.url, "--concurrency", "2", "--limit", "50"]
        proc = subprocess.Popen(command, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while db.execute("SELECT count(*) FROM verdicts").fetchone()[0] < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert db.execute("SELECT status FROM runs").fetchone()[0] == "running"

        listing = run_cli(db_path, "runs", "--json")
        assert listing.returncode == 0, listing.stderr
        assert json.loads(listing.stdout)[0]["status"] == "interrupted"
        killed = json.loads(listing.stdout)[0]
        done_before = killed["n_done"]
        assert 10 <= done_before < 50

        committed = {int(text.rsplit("-", 1)[1]) for (text,) in db.execute(
            "SELECT r.text FROM verdicts v JOIN responses r ON r.id = v.response_id")}
        before_resume = len(server.requests)
        resumed = run_cli(db_path, "resume", str(killed["id"]), timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        answered = collections.Counter(item_of(r["body"]) for r in server.requests)
        asked_again = {item_of(r["body"]) for r in server.requests[before_resume:]}
    per_response = db.execute("SELECT count(*) FROM verdicts GROUP BY response_id").fetchall()
    assert len(per_response) == 50 and set(per_response) == {(1,)}, "the limit of the run, no more, no less"
    assert not asked_again & committed, "an item answered before the kill was asked again"
    assert sum(count > 1 for count in answered.values()) <= 2, "only the calls in flight at the kill are repeated"
    newest = runs.get_run(db, killed["id"] + 1)
    assert json.loads(newest["config"])["resumes"] == killed["id"] and newest["status"] == "done"
    assert newest["n_done"] == 50 - done_before
    assert runs.interrupted_runs(db) == [], "resumed: no longer offered"


def test_resuming_a_generation_run_keeps_its_model_settings_and_system_prompt(db):
    writes.add_prompts(db, [dict(dataset="g", source_id=str(i), text=f"question item-{i}") for i in range(4)])
    generator = Generator("gen", system_prompt="Be brief.", max_tokens=33, temperature=0.5)
    with FakeOpenAI() as server:
        run_id, _ = orchestrator.generate(db, generator, endpoint=Endpoint(server.url), limit=1)
        runs.mark_interrupted(db, [run_id])  # as if it had died at the first of four
        db.execute("UPDATE runs SET config = json_set(config, '$.limit', NULL) WHERE id = ?", [run_id])
        db.conn.commit()
        _, progress = orchestrator.resume(db, run_id)
        bodies = [r["body"] for r in server.requests]
    assert progress.done == 3
    assert {(b["messages"][0]["content"], b["max_tokens"], b["temperature"]) for b in bodies} == {("Be brief.", 33, 0.5)}


def test_a_judge_is_rebuilt_from_its_config_only_while_unchanged(db, tmp_path):
    judge = llm.load_judge("coconot", "m", structured="json_object")
    runs.register_judge(db, judge)
    assert judges.rebuild(judge.name, runs.judge_config(db, judge.name)).name == judge.name
    custom = llm.judge_from_template("Q {prompt} A {response}", "m", "mine")
    runs.register_judge(db, custom)
    assert judges.rebuild(custom.name, runs.judge_config(db, custom.name)) == custom
    rules_judge = judges.load("rules")
    assert judges.rebuild(rules_judge.name, rules_judge.config).name == rules_judge.name
    changed = dict(runs.judge_config(db, custom.name), template="Q {prompt} A {response}!")
    with pytest.raises(UserError, match="changed since"):
        judges.rebuild(custom.name, changed)


def test_dry_run_shows_items_tokens_and_cost_and_writes_nothing(db_path):
    db = store.connect(db_path)
    seed(db, 30)
    before = db_path.read_bytes()
    result = run_cli(db_path, "judge", "--judge", "three-class", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                     "--limit", "20", "--dry-run", "--price-in", "2.5", "--price-out", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dry run: nothing sent, nothing written" in out and "20 items for three-class:m:auto" in out
    assert "auto (learned from the endpoint's answer to the first request)" in out
    prompt_tokens = int(out.split("estimated prompt tokens: ")[1].split(" ")[0].replace(",", ""))
    assert "estimated completion tokens: 10,240 (max_tokens, an upper bound)" in out
    assert f"estimated cost: {(prompt_tokens * 2.5 + 10_240 * 10) / 1e6:,.4f}" in out
    assert db_path.read_bytes() == before
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM judges").fetchone()[0] == 0

    generate = run_cli(db_path, "generate", "--model", "g", "--max-tokens", "100", "--dry-run")
    assert "30 items for g" in generate.stdout and "estimated completion tokens: 3,000" in generate.stdout
    rules_run = run_cli(db_path, "judge", "--judge", "rules", "--dry-run")
    assert "30 items for rules:" in rules_run.stdout and "tokens" not in rules_run.stdout


def test_the_preview_uses_what_earlier_runs_cost_and_what_the_endpoint_taught(db):
    seed(db, 10)
    with FakeOpenAI() as server:
        judge = llm.load_judge("three-class", "m", structured="auto")
        orchestrator.judge(db, judge, endpoint=Endpoint(server.url), limit=4)
        mode = endpoints.features(db, server.url, "m")["structured"]
        shown = orchestrator.preview(db, judge, endpoint=Endpoint(server.url), price_in=1.0, price_out=1.0)
    run = runs.recent_runs(db).iloc[0]
    assert shown.items == 6 and shown.what == judge.with_structured(mode).name
    assert shown.structured == f"{mode} (learned from this endpoint before)"
    assert shown.completion_basis == "mean of earlier runs"
    assert shown.completion_tokens == round(run["completion_tokens"] / run["n_done"] * 6)
    assert shown.cost == pytest.approx((shown.prompt_tokens + shown.completion_tokens) / 1e6)

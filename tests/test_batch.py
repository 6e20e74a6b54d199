"""Batch runs through the real openai client against the fake server's /v1/files and /v1/batches:
requests uploaded once, every result recorded through the live path (cache, counters, tokens), item
errors recorded, a process killed mid-poll resumed by the next one without a second upload or batch,
a batch created but not recorded found again, a live run refused while a batch is open, cancel."""

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import store
from errors import UserError
from judges import llm
from judges.generate import Generator
from runs import Endpoint, Settings, orchestrator
from runs.batch import BatchSettings
from store import runs, writes
from tests.conftest import ROOT
from tests.fake_openai import DEFAULT_ANSWER, FakeOpenAI, Raw, item_of, seed

QUICK = BatchSettings(poll_every=0.05)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")


def judge_batch(db, server, structured="json_schema", **options):
    judge = llm.load_judge("three-class", "batch-model", structured=structured)
    return orchestrator.judge(db, judge, endpoint=Endpoint(server.url), batch=options.pop("batch", QUICK),
                              settings=Settings(backoff_base=0.01), **options)


def verdicts(db) -> int:
    return db.execute("SELECT count(*) FROM verdicts").fetchone()[0]


def test_a_judging_batch_uploads_once_and_records_every_result(db):
    seed(db, 30)
    with FakeOpenAI(batch_seconds=0.3) as server:
        run_id, progress = judge_batch(db, server)
        assert len(server.uploads) == 1 and len(server.batch_creates) == 1
        lines = [json.loads(line) for line in server.files[server.uploads[0]].splitlines()]
    assert len(lines) == 30 and {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert lines[0]["body"]["response_format"]["type"] == "json_schema"
    assert progress.status == "done" and (progress.done, progress.errors) == (30, 0)
    assert verdicts(db) == 30
    run = runs.get_run(db, run_id)
    assert run["status"] == "done" and run["n_done"] == 30 and run["prompt_tokens"] > 0
    assert json.loads(run["config"])["batch"] is True
    assert db.execute("SELECT count(*) FROM llm_cache").fetchone()[0] == 30, "batch answers are cached like live ones"
    book = db.execute("SELECT batch_id, status, n_requests, collected_at IS NOT NULL FROM run_batches").fetchall()
    assert book == [("batch_1", "collected", 30, 1)]
    assert db.execute("SELECT count(*) FROM verdicts WHERE latency_ms IS NOT NULL").fetchone()[0] == 0


def test_identical_requests_go_once_and_answer_every_item(db):
    ids = writes.add_prompts(db, [dict(dataset="d", source_id=str(i), text="same prompt") for i in range(2)])
    writes.add_responses(db, [dict(prompt_id=ids[("d", str(i))], model="m", text="same answer") for i in range(2)])
    with FakeOpenAI() as server:
        _, progress = judge_batch(db, server)
        assert len(server.files[server.uploads[0]].splitlines()) == 1
    assert progress.done == 2 and verdicts(db) == 2


def test_item_errors_and_replies_without_an_answer_are_recorded_not_stored(db):
    ids = seed(db, 6)

    def answer(body):
        return {1: Raw({}), 2: Raw({"choices": [{"message": {"content": 7}}]})}.get(item_of(body), DEFAULT_ANSWER)

    def faults(body, n):
        return (400, "context length exceeded") if item_of(body) == 3 else None

    with FakeOpenAI(answer=answer, faults=faults) as server:
        run_id, progress = judge_batch(db, server)
    assert (progress.done, progress.errors) == (3, 3)
    errors = runs.run_errors(db, run_id).set_index("item_id")["error"]
    assert "no choices" in errors[ids[1]] and "content is the number 7" in errors[ids[2]]
    assert errors[ids[3]] == "batch: HTTP 400: context length exceeded"
    assert verdicts(db) == 3 and db.execute("SELECT count(*) FROM llm_cache").fetchone()[0] == 3


def test_generation_through_a_batch(db):
    writes.add_prompts(db, [dict(dataset="g", source_id=str(i), text=f"question item-{i}") for i in range(12)])
    with FakeOpenAI(answer=lambda body: "an answer") as server:
        _, progress = orchestrator.generate(db, Generator("gen-model", max_tokens=50), endpoint=Endpoint(server.url),
                                            batch=QUICK)
        assert len(server.uploads) == 1
    assert progress.done == 12 and progress.completion_tokens > 0
    assert db.execute("SELECT count(*) FROM responses WHERE model = 'gen-model' AND text = 'an answer'"
                      ).fetchone()[0] == 12


def test_a_large_job_is_split_into_several_batches(db):
    seed(db, 25)
    with FakeOpenAI() as server:
        _, progress = judge_batch(db, server, batch=BatchSettings(poll_every=0.05, max_requests=10))
        assert [len(server.files[f].splitlines()) for f in server.uploads] == [10, 10, 5]
    assert progress.done == 25 and verdicts(db) == 25


def test_a_live_run_is_refused_while_a_batch_is_open(db):
    seed(db, 4)
    with FakeOpenAI(batch_seconds=60) as server:
        cancel, path = threading.Event(), db.execute("PRAGMA database_list").fetchone()[2]
        thread = threading.Thread(target=lambda: judge_batch(store.connect(path), server, cancel=cancel))
        thread.start()
        while not server.batch_creates and thread.is_alive():
            time.sleep(0.05)
        with pytest.raises(UserError, match="batch still open.*--batch"):
            judge_batch(db, server, batch=None)
        cancel.set()
        thread.join()
    assert db.execute("SELECT status FROM runs ORDER BY id").fetchall() == [("cancelled",)]


def test_cancel_cancels_the_batch_at_the_provider_and_keeps_what_it_finished(db):
    seed(db, 40)
    cancel = threading.Event()
    with FakeOpenAI(batch_seconds=2.0) as server:
        def on_progress(progress):
            if "in_progress" in progress.message and "done at the provider" in progress.message:
                if int(progress.message.split(", ")[1].split(" ")[0]) >= 5:
                    cancel.set()

        run_id, progress = judge_batch(db, server, cancel=cancel, on_progress=on_progress)
    assert progress.status == "cancelled" and runs.get_run(db, run_id)["status"] == "cancelled"
    assert 5 <= verdicts(db) < 40
    assert db.execute("SELECT status FROM run_batches").fetchone()[0] == "collected"


def test_a_batch_created_but_not_recorded_is_found_again_not_created_twice(db):
    """A process killed between creating the batch and writing its id."""
    seed(db, 5)
    with FakeOpenAI(batch_seconds=0.2) as server:
        judge = llm.load_judge("three-class", "batch-model", structured="json_schema")
        run_id = runs.start_run(db, "judge", judge.name, {"batch": True}, 5)
        runs.register_judge(db, judge)
        from runs.batch import ENDPOINT
        from store import batches

        lines = b"".join(json.dumps({"custom_id": str(i), "method": "POST", "url": ENDPOINT,
                                     "body": {"model": "batch-model", "messages": [
                                         {"role": "user", "content": f"item-{i}"}]}}).encode() + b"\n"
                         for i in seed_ids(db))
        import openai

        client = openai.OpenAI(base_url=server.url, api_key="sk")
        uploaded = client.files.create(file=("r.jsonl", lines, "application/jsonl"), purpose="batch")
        batches.add(db, run_id, server.url, uploaded.id, 5)
        client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
        runs.mark_interrupted(db, [run_id])
        resumed_id, progress = judge_batch(db, server)
        assert len(server.uploads) == 1 and len(server.batch_creates) == 1
    assert resumed_id == run_id and progress.done == 5 and verdicts(db) == 5
    assert runs.get_run(db, run_id)["status"] == "done"


def seed_ids(db) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM responses ORDER BY id")]


@pytest.mark.slow
def test_a_cli_killed_mid_poll_resumes_polling_and_pays_once(db_path):
    db = store.connect(db_path)
    n = 50
    seed(db, n)
    with FakeOpenAI(batch_seconds=4.0) as server:
        command = [sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "judge", "--judge", "three-class",
                   "--model", "batch-model", "--base-url", server.url, "--structured", "json_schema", "--batch",
                   "--poll-every", "0.1"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-batch"}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not db.execute(
                "SELECT count(*) FROM run_batches WHERE batch_id IS NOT NULL").fetchone()[0]:
            time.sleep(0.05)
        time.sleep(0.5)  # polling now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert verdicts(db) == 0 and db.execute("SELECT status FROM runs").fetchone()[0] == "running"

        listing = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "runs"],
                                 env=env, capture_output=True, text=True, timeout=60)
        assert "interrupted" in listing.stdout and "batch_1" in listing.stdout
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert len(server.uploads) == 1 and len(server.batch_creates) == 1
        answered = collections.Counter(item_of(r["body"]) for r in server.requests)
    assert "run 1 done: 50 verdicts" in result.stdout
    assert sorted(answered) == list(range(n)) and set(answered.values()) == {1}
    assert verdicts(db) == n
    assert db.execute("SELECT id, status, n_done FROM runs").fetchall() == [(1, "done", n)]


def test_a_batch_the_provider_fails_fails_the_run_and_leaves_every_item_for_later(db):
    seed(db, 4)
    with FakeOpenAI(refuse_batch=lambda lines: "model batch-model does not exist") as server:
        run_id, progress = judge_batch(db, server)
    assert progress.status == "failed" and runs.get_run(db, run_id)["status"] == "failed"
    assert "model batch-model does not exist" in progress.message and "4 items left for the next run" in progress.message
    assert verdicts(db) == 0 and runs.run_errors(db, run_id).empty

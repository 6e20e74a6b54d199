"""The runner with its calls spread over forked worker processes (Settings.processes > 1), against the
fake OpenAI server over real HTTP: one verdict per item, one request per item, retries, errors,
the cache, cancel, a worker killed mid-run, and the same results as one process."""

import collections
import multiprocessing
import os
import signal
import threading

import pytest

import store
from errors import UserError
from judges import llm
from runs import Endpoint, Settings, orchestrator, pool
from runs import processes as worker_processes
from store import runs
from tests.conftest import run_cli
from tests.fake_openai import FakeOpenAI, item_of, seed

FAST = dict(backoff_base=0.01, backoff_max=0.05)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-processes")


def judge_run(db, server, on_progress=None, cancel=None, **settings):
    judge = llm.load_judge("three-class", "fake-judge")
    return orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings(**{**FAST, **settings}),
                               on_progress=on_progress, cancel=cancel)


def verdicts(db) -> dict[str, tuple]:
    """Response text -> (label, rationale, raw output) of its verdicts, one row each."""
    rows = db.execute("""SELECT r.text, v.label, v.rationale, v.raw_output FROM verdicts v
                         JOIN responses r ON r.id = v.response_id""").fetchall()
    found = {text: rest for text, *rest in rows}
    assert len(found) == len(rows), "a response has two verdicts"
    return found


def answer(body):
    """A different, deterministic answer per item, so results can be compared item by item."""
    label = ("full_compliance", "partial_refusal", "full_refusal")[item_of(body) % 3]
    return f'{{"rationale": "item {item_of(body)}", "label": "{label}"}}'


def test_two_processes_give_one_verdict_per_item_one_call_each_and_the_same_results_as_one(tmp_path):
    n = 90
    results = {}
    for processes in (1, 2):
        db = store.connect(tmp_path / f"p{processes}.db")
        seed(db, n)
        with FakeOpenAI(latency=0.02, answer=answer) as server:
            run_id, progress = judge_run(db, server, concurrency=8, processes=processes)
        calls = collections.Counter(item_of(r["body"]) for r in server.requests)
        assert progress.status == "done" and progress.done == n and progress.errors == 0
        assert calls == collections.Counter(range(n)), "every item asked exactly once"
        assert server.max_in_flight <= 8
        assert runs.get_run(db, run_id)["n_done"] == n
        assert progress.prompt_tokens == runs.get_run(db, run_id)["prompt_tokens"] > 0
        results[processes] = verdicts(db)
    assert len(results[2]) == n
    assert results[2] == results[1]
    assert set(label for label, *_ in results[2].values()) == {"full_compliance", "partial_refusal", "full_refusal"}


def test_worker_processes_interleave_their_staggered_starts(db):
    """Process k's workers start at k, k + 2, k + 4... staggers: no two workers are scheduled to leave
    together, and the two processes together still fill the concurrency limit."""
    share, firsts = worker_processes.shares(Settings(concurrency=8, stagger=0.1), 2)
    starts = sorted(t for first in firsts for t in pool.start_offsets(share.concurrency, share.stagger, first))
    assert starts == pytest.approx([0.1 * i for i in range(8)])
    seed(db, 8)
    with FakeOpenAI(latency=1.0) as server:
        _, progress = judge_run(db, server, concurrency=8, processes=2, stagger=0.1)
    assert progress.done == 8
    assert server.max_in_flight == 8


def test_worker_processes_retry_429_and_500_and_record_an_item_that_never_succeeds(db):
    ids = seed(db, 12)
    seen = collections.Counter()
    lock = threading.Lock()

    def faults(body, n):
        item = item_of(body)
        with lock:
            seen[item] += 1
            count = seen[item]
        if item == 2 and count <= 2:
            return 429
        if item == 4 and count == 1:
            return 500
        return 500 if item == 7 else None

    with FakeOpenAI(faults=faults) as server:
        run_id, progress = judge_run(db, server, concurrency=4, processes=2, max_attempts=3)
    assert (progress.done, progress.errors, progress.status) == (11, 1, "done")
    assert seen[2] == 3 and seen[4] == 2 and seen[7] == 3 and seen[0] == 1
    errors = runs.run_errors(db, run_id)
    assert errors["item_id"].tolist() == [ids[7]] and errors["attempts"].tolist() == [3]
    assert "500" in errors["error"][0]
    assert len(verdicts(db)) == 11


def test_cache_hits_and_twins_are_answered_in_the_parent_without_a_call(db):
    seed(db, 10)
    with FakeOpenAI() as server:
        judge_run(db, server, concurrency=4, processes=2)
        assert len(server.requests) == 10
        db.execute("DELETE FROM verdicts")  # the verdicts are lost; the cache keeps the answers
        _, progress = judge_run(db, server, concurrency=4, processes=2)
        assert len(server.requests) == 10
    assert progress.done == 10 and progress.cached == 10
    assert len(verdicts(db)) == 10


def test_cancel_stops_the_workers_taking_items_and_keeps_what_was_done(db):
    n = 200
    seed(db, n)
    cancel = threading.Event()

    def on_progress(progress):
        if progress.done >= 10:
            cancel.set()

    with FakeOpenAI(latency=0.05) as server:
        run_id, progress = judge_run(db, server, on_progress, cancel, concurrency=4, processes=2)
        asked = len(server.requests)
    assert progress.status == "cancelled" and runs.get_run(db, run_id)["status"] == "cancelled"
    assert 10 <= len(verdicts(db)) == progress.done < n
    assert asked == progress.done, "every request a worker made was answered and written"
    assert runs.run_errors(db, run_id).empty


def test_a_killed_worker_loses_no_finished_result_and_its_unfinished_items_are_errors(db):
    n = 80
    seed(db, n)
    killed = []

    def on_progress(progress):
        if progress.done >= 8 and not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    with FakeOpenAI(latency=0.05) as server:
        run_id, progress = judge_run(db, server, on_progress, concurrency=4, processes=2)
        done = verdicts(db)
        errors = runs.run_errors(db, run_id)
        # A re-run does exactly the items left without a verdict.
        before = len(server.requests)
        _, again = judge_run(db, server, concurrency=4, processes=2)
        redone = collections.Counter(item_of(r["body"]) for r in server.requests[before:])
    assert killed
    assert progress.status == "failed" and "code -9" in progress.message
    assert progress.done == len(done) and progress.errors == len(errors) >= 1
    assert progress.done + progress.errors == n, "every item has a verdict or an error"
    assert all("worker process died" in e for e in errors["error"])
    assert again.status == "done" and again.done == len(errors)
    assert sum(redone.values()) == len(errors) and max(redone.values()) == 1
    assert len(verdicts(db)) == n


def test_the_rpm_limit_is_shared_by_the_workers(db):
    """Each of two processes gets half the rpm (0.1 s apart overall: 0.2 s per process)."""
    share, _ = worker_processes.shares(Settings(concurrency=4, rpm=600), 2)
    assert (share.rpm, share.concurrency) == (300, 2)
    assert pool.RateLimiter(share.rpm).interval == pytest.approx(0.2)
    seed(db, 6)
    with FakeOpenAI() as server:
        _, progress = judge_run(db, server, concurrency=4, processes=2, rpm=600)
    assert progress.done == 6 and len(server.requests) == 6


def test_a_rejected_key_stops_every_worker_and_the_run_fails(db):
    seed(db, 40)
    with FakeOpenAI(faults=lambda body, n: 401) as server:
        run_id, progress = judge_run(db, server, concurrency=2, processes=2)
    assert progress.status == "failed" and "401" in progress.message
    assert len(server.requests) <= 2
    assert progress.errors == len(server.requests) == len(runs.run_errors(db, run_id))
    assert runs.get_run(db, run_id)["status"] == "failed"


def test_processes_are_refused_off_the_main_thread_as_in_the_app():
    found = []
    thread = threading.Thread(target=lambda: found.append(_settings_or_error(processes=2)))
    thread.start()
    thread.join()
    assert isinstance(found[0], UserError) and "main thread" in str(found[0])
    assert isinstance(_settings_or_error(processes=2), Settings)
    assert isinstance(_settings_or_error(processes=0), UserError)


def _settings_or_error(**settings):
    try:
        return Settings(**settings)
    except UserError as exc:
        return exc


def test_cli_judge_and_generate_take_processes(db_path):
    db = store.connect(db_path)
    seed(db, 20)
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-processes"}
    with FakeOpenAI(answer=answer) as server:
        judged = run_cli(db_path, "judge", "--judge", "three-class", "--model", "fake-judge", "--base-url",
                         server.url, "--concurrency", "4", "--processes", "2", env=env, timeout=120)
        generated = run_cli(db_path, "generate", "--model", "model-b", "--base-url", server.url,
                            "--concurrency", "4", "--processes", "2", env=env, timeout=120)
        calls = collections.Counter(item_of(r["body"]) for r in server.requests)
    assert judged.returncode == 0, judged.stderr
    assert generated.returncode == 0, generated.stderr
    assert "20 verdicts, 0 errors" in judged.stdout and "20 responses, 0 errors" in generated.stdout
    assert calls == collections.Counter({item: 2 for item in range(20)})  # one judge call, one generate call
    assert len(verdicts(db)) == 20
    assert db.execute("SELECT count(*) FROM responses WHERE model = 'model-b'").fetchone()[0] == 20

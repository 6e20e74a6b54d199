"""The async runner against a real OpenAI-compatible HTTP server (tests/fake_openai.py) through the
real openai client: concurrency, retries on 429/500, a hanging request, bounded failure recorded
as an error, the cache, cancel, a fatal key error, and a judging run killed with SIGKILL."""

import asyncio
import collections
import os
import signal
import ssl
import subprocess
import sys
import threading
import time

import pytest

import judges
import store
from errors import UserError
from judges import llm
from runs import Endpoint, Settings, orchestrator, pool
from runs.endpoint import tls_context
from store import runs
from tests.conftest import FIXTURES, ROOT
from tests.fake_openai import FakeOpenAI, item_of, seed

FAST = dict(backoff_base=0.01, backoff_max=0.05)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-runner")


def judge_run(db, server, **settings):
    judge = llm.load_judge("three-class", "fake-judge")
    return orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings(**{**FAST, **settings}))


def verdict_count(db, judge_name=None):
    sql = "SELECT count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id"
    return db.execute(sql + (" WHERE j.name = ?" if judge_name else ""), [judge_name] if judge_name else []).fetchone()[0]


def test_concurrency_limit_is_reached_and_never_exceeded(db):
    seed(db, 40)
    with FakeOpenAI(latency=0.05) as server:
        _, progress = judge_run(db, server, concurrency=8)
    assert progress.status == "done" and progress.done == 40
    assert server.max_in_flight == 8
    assert verdict_count(db) == 40


def test_workers_start_staggered_and_the_pool_still_fills(db):
    """Worker i starts i staggers after the first (how long that takes on a busy machine is
    bench/judge_bench.py's business); the staggered pool still reaches the concurrency limit."""
    assert pool.start_offsets(4, 0.05) == pytest.approx([0.0, 0.05, 0.10, 0.15])
    assert pool.start_offsets(2, 0.05, first_start=0.01) == pytest.approx([0.01, 0.06])
    seed(db, 12)
    with FakeOpenAI(latency=0.5) as server:
        _, progress = judge_run(db, server, concurrency=6, stagger=0.05)
    assert progress.done == 12
    assert server.max_in_flight == 6


def test_runs_share_one_tls_context_per_process(db):
    seed(db, 4)
    tls_context.cache_clear()
    with FakeOpenAI() as server:
        judge_run(db, server, concurrency=2)
        orchestrator.judge(db, llm.load_judge("coconot", "fake-judge"), endpoint=Endpoint(server.url),
                           settings=Settings(**FAST))
    info = tls_context.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert isinstance(tls_context(), ssl.SSLContext)


def test_an_https_endpoint_is_verified_against_the_trust_store(db, monkeypatch):
    """tests/fixtures/tls: a test CA (its key discarded) and a server certificate for 127.0.0.1. The
    runner's shared TLS context must verify: unknown to the trust store, every call fails and is
    recorded; trusted through SSL_CERT_FILE (read when the context is built, as httpx reads it), the
    same run succeeds."""
    seed(db, 3)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(FIXTURES / "tls" / "server.pem", FIXTURES / "tls" / "server.key")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    try:
        with FakeOpenAI(ssl_context=server_side) as server:
            assert server.url.startswith("https://127.0.0.1:")
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
            tls_context.cache_clear()
            run_id, progress = judge_run(db, server, max_attempts=1)
            assert (progress.done, progress.errors) == (0, 3)
            assert server.requests == [], "no request may pass an unverified connection"

            monkeypatch.setenv("SSL_CERT_FILE", str(FIXTURES / "tls" / "ca.pem"))
            tls_context.cache_clear()
            _, progress = judge_run(db, server)
            assert (progress.done, progress.errors) == (3, 0)
            assert len(server.requests) == 3
    finally:
        tls_context.cache_clear()  # later tests build it from the real environment


def test_429_and_500_are_retried_until_an_answer(db):
    seed(db, 6)
    seen = collections.Counter()

    def faults(body, n):
        item = item_of(body)
        seen[item] += 1
        if item == 2 and seen[item] <= 2:
            return 429
        if item == 4 and seen[item] == 1:
            return 500
        return None

    with FakeOpenAI(faults=faults) as server:
        run_id, progress = judge_run(db, server)
    assert progress.errors == 0 and progress.done == 6
    assert seen[2] == 3 and seen[4] == 2 and seen[0] == 1
    assert verdict_count(db) == 6
    assert runs.get_run(db, run_id)["n_done"] == 6


def test_an_item_that_never_succeeds_is_recorded_as_an_error_not_dropped(db):
    ids = seed(db, 5)
    with FakeOpenAI(faults=lambda body, n: 500 if item_of(body) == 3 else None) as server:
        run_id, progress = judge_run(db, server, max_attempts=3)
    assert progress.done == 4 and progress.errors == 1 and progress.status == "done"
    errors = runs.run_errors(db, run_id)
    assert errors["item_id"].tolist() == [ids[3]]
    assert errors["attempts"].tolist() == [3] and "500" in errors["error"][0]
    assert sum(item_of(r["body"]) == 3 for r in server.requests) == 3
    run = runs.get_run(db, run_id)
    assert (run["n_done"], run["n_errors"], run["status"]) == (4, 1, "done")


def test_a_hanging_request_times_out_and_is_retried(db):
    seed(db, 3)
    seen = collections.Counter()

    def faults(body, n):
        seen[item_of(body)] += 1
        return "hang" if item_of(body) == 1 and seen[1] == 1 else None

    with FakeOpenAI(faults=faults) as server:
        run_id, progress = judge_run(db, server, timeout=0.5)
    assert progress.done == 3 and progress.errors == 0
    assert seen[1] == 2
    assert runs.run_errors(db, run_id).empty


def test_cache_answers_a_repeated_request_without_a_call(db):
    seed(db, 4)
    with FakeOpenAI() as server:
        judge_run(db, server)
        assert len(server.requests) == 4
        db.execute("DELETE FROM verdicts")  # as if the verdicts were lost: the cache still has the answers
        _, progress = judge_run(db, server)
        assert len(server.requests) == 4
    assert progress.done == 4 and progress.cached == 4
    assert verdict_count(db) == 4


def test_tokens_are_counted_per_run_and_reported(db):
    seed(db, 5)
    seen = []
    with FakeOpenAI() as server:
        judge = llm.load_judge("three-class", "fake-judge")
        run_id, progress = orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings(**FAST),
                                               on_progress=seen.append)
    run = runs.get_run(db, run_id)
    assert run["prompt_tokens"] > 0 and run["completion_tokens"] > 0
    assert run["prompt_tokens"] == progress.prompt_tokens
    assert seen[-1].done == 5 and seen[-1].status == "done"


def test_rpm_limit_gives_request_starts_one_interval_apart(db):
    """The limiter hands out start times exactly 60/rpm apart however many ask at once (when they
    then arrive on a busy machine is bench/judge_bench.py's business)."""
    async def starts():
        limiter = pool.RateLimiter(600)  # one start per 0.1 s
        return await asyncio.gather(*(limiter.wait() for _ in range(4)))

    given = sorted(asyncio.run(starts()))
    assert [b - a for a, b in zip(given, given[1:])] == pytest.approx([0.1, 0.1, 0.1])
    assert pool.RateLimiter(None).interval == 0
    seed(db, 4)
    with FakeOpenAI() as server:
        _, progress = judge_run(db, server, concurrency=4, rpm=600)
    assert progress.done == 4 and len(server.requests) == 4


def test_cancel_stops_the_run_and_keeps_what_was_done(db):
    seed(db, 60)
    cancel = threading.Event()

    def on_progress(progress):
        if progress.done >= 5:
            cancel.set()

    with FakeOpenAI(latency=0.05) as server:
        judge = llm.load_judge("three-class", "fake-judge")
        run_id, progress = orchestrator.judge(db, judge, endpoint=Endpoint(server.url),
                                              settings=Settings(concurrency=2, **FAST), on_progress=on_progress,
                                               cancel=cancel)
    assert progress.status == "cancelled"
    assert 5 <= verdict_count(db) < 60
    assert runs.get_run(db, run_id)["status"] == "cancelled"


def test_a_rejected_key_stops_the_run_at_once(db):
    seed(db, 30)
    with FakeOpenAI(faults=lambda body, n: 401) as server:
        run_id, progress = judge_run(db, server, concurrency=2)
    assert progress.status == "failed" and "401" in progress.message
    assert len(server.requests) <= 2
    assert runs.get_run(db, run_id)["status"] == "failed"


def test_missing_key_is_a_clear_error_before_anything_is_written(db, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    seed(db, 2)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        orchestrator.judge(db, judges.load("coconot", model="m"), endpoint=Endpoint("http://127.0.0.1:9/v1"))
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM judges").fetchone()[0] == 0


def test_sigkill_half_way_then_resume_gives_one_verdict_each_and_no_repeated_call(db_path):
    db = store.connect(db_path)
    n = 120
    seed(db, n)
    with FakeOpenAI(latency=0.05) as server:
        command = [sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "judge", "--judge", "three-class",
                   "--model", "fake-judge", "--base-url", server.url, "--concurrency", "4"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-runner"}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while verdict_count(db) < n // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        committed = {item for (text,) in db.execute(
            "SELECT r.text FROM verdicts v JOIN responses r ON r.id = v.response_id")
            for item in [int(text.rsplit("-", 1)[1])]}
        assert n // 3 <= len(committed) < n, "the kill must land half-way"
        before_resume = len(server.requests)

        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        calls = collections.Counter(item_of(r["body"]) for r in server.requests)
        resumed = collections.Counter(item_of(r["body"]) for r in server.requests[before_resume:])

    per_response = db.execute("""SELECT r.id, count(v.id) FROM responses r
                                 LEFT JOIN verdicts v ON v.response_id = r.id GROUP BY r.id""").fetchall()
    assert len(per_response) == n and all(count == 1 for _, count in per_response)
    assert all(calls[item] == 1 for item in committed), "an item answered before the kill was asked again"
    assert not set(resumed) & committed
    assert set(resumed) | committed == set(range(n))

"""The async runner shared by LLM judging and generation.

Benchmarks' own scripts call the API one request at a time, sleep between calls and keep results in
memory until the end, so a crash loses everything. Here a fixed pool of workers (the concurrency
limit) pulls items from a queue, an optional requests-per-minute limiter spaces request starts,
transient failures (429, 5xx, timeouts, dropped connections) are retried with exponential backoff
and jitter up to a bound, and every result is handed to ``on_result`` the moment it arrives (the
callers commit it in its own transaction), so a killed run loses only the requests in flight. An
item that never succeeds is reported to ``on_error`` (recorded in run_errors), never dropped.

The result cache is keyed by the caller's identity (judge name or generation settings) and the
exact request, so a re-run or a resumed run never pays for the same call twice.
"""

import asyncio
import collections
import functools
import hashlib
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import openai

from store import runs

DEFAULT_CONCURRENCY = 16
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class Settings:
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None  # requests per minute, None = unlimited
    timeout: float = 60.0  # seconds per request
    max_attempts: int = 5
    backoff_base: float = 1.0  # first retry waits about this long, doubling each time
    backoff_max: float = 30.0
    # Seconds between worker starts (a pool of 32 is fully running after 64 ms). Requests that all
    # leave in the same instant come back in the same instant and wait in one event loop's queue,
    # round after round; spread starts stay spread (at 50 ms latency and 32 workers, a median
    # effective parallelism of 26.0 against 25.4 all at once: bench/judge_bench.py). It also spares a
    # provider the opening burst that trips per-second rate limits.
    stagger: float = 0.002
    # > 1: the calls are spread over this many forked worker processes (judges/worker_processes.py),
    # for a fast local endpoint where one process's client CPU is the bottleneck. Command line only.
    processes: int = 1

    def __post_init__(self):
        if self.stagger < 0:
            raise ValueError(f"stagger must be at least 0 seconds, not {self.stagger}")
        if self.processes < 1:
            raise ValueError(f"processes must be at least 1, not {self.processes}")
        if self.processes > 1 and threading.current_thread() is not threading.main_thread():
            # Forking a multi-threaded server (Streamlit's script and run threads) copies locks held
            # by other threads into the children: the app always runs in one process.
            raise ValueError("processes > 1 forks worker processes, which is only allowed from the main thread "
                             "of a command-line process (python cli.py judge/generate --processes N)")


@dataclass
class Job:
    item_id: int  # response id (judging) or prompt id (generation)
    key: str  # cache key
    request: dict  # keyword arguments for chat.completions.create
    context: dict = field(default_factory=dict)


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cached: bool = False

    def to_cache(self) -> dict:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "finish_reason": self.finish_reason}


@dataclass
class Progress:
    total: int
    done: int = 0
    errors: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    status: str = "running"  # running, done, cancelled, failed
    message: str = ""

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def finished(self) -> int:
        return self.done + self.errors


class Fatal(Exception):
    """A failure every further request would repeat (bad key, unknown model): stop the run."""


def cache_key(identity: str, request: dict) -> str:
    blob = json.dumps({"identity": identity, "request": request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. The key is typed on the page (``api_key``) or read from the environment
    variable ``api_key_env``; it lives only in this object, never in the database."""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = "OPENAI_API_KEY"

    def key(self) -> str:
        key = self.api_key or os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(f"no API key: set {self.api_key_env} (or name another variable with --api-key-env); "
                             "a local server that needs no key accepts any value, e.g. export OPENAI_API_KEY=none")
        return key

    def client(self, timeout: float) -> openai.AsyncOpenAI:
        """The SDK's own retries are off: the runner retries, and counts the attempts. The HTTP client
        is the SDK's default one, given the process's TLS context (tls_context)."""
        http_client = openai.DefaultAsyncHttpxClient(verify=tls_context(), timeout=timeout)
        return openai.AsyncOpenAI(base_url=self.base_url or None, api_key=self.key(), timeout=timeout,
                                  max_retries=0, http_client=http_client)


@functools.cache
def tls_context():
    """The TLS context the SDK's HTTP client would build for itself (its httpx package's
    ``create_ssl_context``: the CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR as set when first built),
    built once per process and shared: loading the CA bundle takes about 20 ms, paid by every run
    otherwise (the app runs many in one process; worker processes inherit it from the parent). True
    (httpx builds its own) where that httpx has no ``create_ssl_context``."""
    httpx_client_class = openai.DefaultAsyncHttpxClient.__mro__[1]  # httpx.AsyncClient (httpx2 from openai 3)
    package = sys.modules[httpx_client_class.__module__.partition(".")[0]]
    create = getattr(package, "create_ssl_context", None)
    return create() if create else True


class _RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next_start = 0.0
        self.lock = asyncio.Lock()

    async def wait(self):
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            delay = self.next_start - now
            self.next_start = max(now, self.next_start) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def _retry_delay(settings: Settings, attempt: int, exc: Exception) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is honoured (within the cap)."""
    delay = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("retry-after") if response is not None else None
    try:
        if retry_after is not None:
            delay = max(delay, min(settings.backoff_max, float(retry_after)))
    except ValueError:
        pass
    return delay


def _classify(exc: Exception) -> str:
    """'retry', 'fatal' (stop the whole run) or 'skip' (this item only)."""
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError)):
        return "retry"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
        return "fatal"
    if isinstance(exc, openai.APIStatusError):
        return "retry" if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500 else "skip"
    return "skip"


def _describe(exc: Exception) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def _call(client: openai.AsyncOpenAI, request: dict, timeout: float) -> Reply:
    """One chat completion through the SDK's documented raw-request path (``client.post``).

    Same endpoint, body, auth, timeouts and typed errors as ``chat.completions.create``, without
    its per-call parameter transform and response models, which cost about 1.7 ms of CPU per call
    and would cap the parallelism a small machine can reach (bench/judge_bench.py).
    """
    started = time.perf_counter()
    # A backstop: the client's own timeout normally fires first. asyncio.timeout, unlike wait_for,
    # runs the call in this task instead of wrapping it in another one per request.
    async with asyncio.timeout(timeout + 5):
        body = await client.post("/chat/completions", body=request, cast_to=object)
    choices = (body or {}).get("choices") or [{}]
    usage = (body or {}).get("usage") or {}
    return Reply(text=(choices[0].get("message") or {}).get("content") or "",
                 prompt_tokens=usage.get("prompt_tokens") or 0,
                 completion_tokens=usage.get("completion_tokens") or 0,
                 latency_ms=(time.perf_counter() - started) * 1000,
                 finish_reason=choices[0].get("finish_reason"))


class Ledger:
    """The parent's side of a run, whichever path makes the calls (this process, or worker
    processes): cache hits are answered at once, a request repeated in the run (a twin) gets one
    call, and every answer or failure goes through ``on_result``/``on_error`` here, so the writes
    and the progress stay on the caller's one database connection."""

    def __init__(self, db, jobs: list[Job], on_result: Callable[[Job, Reply], None],
                 on_error: Callable[[Job, str, int], None], on_progress: Callable[[Progress], None] | None):
        self.progress = Progress(total=len(jobs))
        self.on_result, self.on_error, self.on_progress = on_result, on_error, on_progress
        self.last_report = 0.0
        self.twins: dict[str, list[Job]] = {}
        self.pending: list[Job] = []  # the jobs that need a call, each request once
        hits = runs.cached(db, [job.key for job in jobs])
        for job in jobs:
            if job.key in hits:
                value = hits[job.key]
                self.deliver(job, Reply(text=value["text"], finish_reason=value.get("finish_reason"), cached=True))
            elif job.key in self.twins:
                self.twins[job.key].append(job)
            else:
                self.twins[job.key] = []
                self.pending.append(job)

    def report(self, force=False):
        now = time.monotonic()
        if self.on_progress and (force or now - self.last_report >= 0.1):
            self.last_report = now
            self.on_progress(self.progress)

    def deliver(self, job: Job, reply: Reply):
        self.on_result(job, reply)
        self.progress.done += 1
        self.progress.cached += reply.cached
        self.progress.prompt_tokens += reply.prompt_tokens
        self.progress.completion_tokens += reply.completion_tokens
        self.report()

    def answered(self, job: Job, reply: Reply):
        self.deliver(job, reply)
        for twin in self.twins.pop(job.key, []):  # same request in this run: same answer, no second call
            self.deliver(twin, Reply(text=reply.text, finish_reason=reply.finish_reason, cached=True))

    def failed(self, job: Job, error: str, attempts: int):
        for each in [job, *self.twins.pop(job.key, [])]:
            self.on_error(each, error, attempts)
            self.progress.errors += 1
        self.report()

    def finish(self, status: str, message: str = "") -> Progress:
        self.progress.status, self.progress.message = status, message
        self.report(force=True)
        return self.progress


def start_workers(take: Callable[[], Job | None], count: int, client: openai.AsyncOpenAI, settings: Settings,
                  answered: Callable[[Job, Reply], None], failed: Callable[[Job, str, int], None],
                  first_start: float = 0.0) -> list[asyncio.Task]:
    """``count`` tasks that call ``take()`` for a job until it returns None, retrying each call as
    settings say; worker i starts ``first_start + i * settings.stagger`` seconds from now. A fatal
    error is reported for its job, stops these workers taking more, and ends that worker's task with
    Fatal."""
    limiter = _RateLimiter(settings.rpm)
    stop = asyncio.Event()

    async def work(start: float):
        if start:
            await asyncio.sleep(start)
        while not stop.is_set() and (job := take()) is not None:
            for attempt in range(1, settings.max_attempts + 1):
                await limiter.wait()
                try:
                    reply = await _call(client, job.request, settings.timeout)
                except Exception as exc:  # noqa: BLE001 - classified below; nothing is swallowed silently
                    kind = _classify(exc)
                    if kind == "retry" and attempt < settings.max_attempts:
                        await asyncio.sleep(_retry_delay(settings, attempt, exc))
                        continue
                    failed(job, _describe(exc), attempt)
                    if kind == "fatal":
                        stop.set()
                        raise Fatal(_describe(exc)) from exc
                    break
                answered(job, reply)
                break

    return [asyncio.create_task(work(first_start + i * settings.stagger)) for i in range(max(1, count))]


def first_failure(results: list) -> Fatal | None:
    """The Fatal among gathered worker results; any other exception is a bug and is raised."""
    unexpected = next((r for r in results if isinstance(r, BaseException)
                       and not isinstance(r, (Fatal, asyncio.CancelledError))), None)
    if unexpected:
        raise unexpected
    return next((r for r in results if isinstance(r, Fatal)), None)


async def run_jobs(db, jobs: list[Job], client: openai.AsyncOpenAI, settings: Settings,
                   on_result: Callable[[Job, Reply], None], on_error: Callable[[Job, str, int], None],
                   on_progress: Callable[[Progress], None] | None = None,
                   cancel: threading.Event | None = None) -> Progress:
    """Run ``jobs`` in this process; cached ones are answered from llm_cache without a call.
    Returns the final Progress (status done / cancelled / failed)."""
    ledger = Ledger(db, jobs, on_result, on_error, on_progress)
    queue = collections.deque(ledger.pending)
    workers = start_workers(lambda: queue.popleft() if queue else None,
                            min(settings.concurrency, len(queue)), client, settings, ledger.answered, ledger.failed)

    async def watch(tasks):
        while cancel is not None and not cancel.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()

    watcher = asyncio.create_task(watch(workers)) if cancel is not None else None
    try:
        results = await asyncio.gather(*workers, return_exceptions=True)
    finally:
        if watcher:
            watcher.cancel()
    fatal = first_failure(results)
    if fatal:
        return ledger.finish("failed", str(fatal))
    return ledger.finish("cancelled" if cancel is not None and cancel.is_set() else "done")


def execute(db, run_id: int, jobs: list[Job], endpoint: Endpoint, settings: Settings,
            on_result: Callable[[Job, Reply], None], on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> Progress:
    """Run ``jobs`` for run ``run_id`` on a fresh event loop and client: failures go to run_errors,
    and the run ends marked done, cancelled or failed (also when interrupted)."""
    endpoint.key()  # a missing key fails here, before the run does anything

    def on_error(job: Job, error: str, attempts: int):
        runs.record_error(db, run_id, job.item_id, error, attempts)

    async def main():
        client = endpoint.client(settings.timeout)
        try:
            return await run_jobs(db, jobs, client, settings, on_result, on_error, on_progress, cancel)
        finally:
            await client.close()

    try:
        if settings.processes > 1:
            from judges import worker_processes  # it builds on this module: imported here, not at the top

            progress = worker_processes.run_jobs(db, jobs, endpoint, settings, on_result, on_error, on_progress,
                                                 cancel)
        else:
            progress = asyncio.run(main())
    except BaseException:
        runs.finish_run(db, run_id, "failed")
        raise
    runs.finish_run(db, run_id, progress.status)
    return progress

"""The pool of async workers that makes a run's calls in one process.

Benchmarks' own scripts call the API one request at a time and keep results in memory until the
end, so a crash loses everything. Here a fixed pool of workers (the concurrency limit) pulls jobs
from a queue, an optional requests-per-minute limiter spaces request starts, transient failures are
retried (runs/calls.py), and every outcome goes to the ledger the moment it arrives.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from errors import UserError
from runs.calls import Fatal, Quirks, call, classify, describe, retry_delay
from runs.ledger import Job, Ledger, Progress
from runs.replies import Reply

if TYPE_CHECKING:  # imported where used: the SDK takes a second to load
    import openai

DEFAULT_CONCURRENCY = 16


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
    # round after round; spread starts stay spread (bench/judge_bench.py). It also spares a provider
    # the opening burst that trips per-second rate limits.
    stagger: float = 0.002
    # > 1: the calls are spread over this many forked worker processes (runs/processes.py), for a
    # fast local endpoint where one process's client CPU is the bottleneck. Command line only.
    processes: int = 1

    def __post_init__(self):
        if self.stagger < 0:
            raise UserError(f"stagger must be at least 0 seconds, not {self.stagger}")
        if self.processes < 1:
            raise UserError(f"processes must be at least 1, not {self.processes}")
        if self.processes > 1 and threading.current_thread() is not threading.main_thread():
            # Forking a multi-threaded server (Streamlit's script and run threads) copies locks held
            # by other threads into the children: the app always runs in one process.
            raise UserError("processes > 1 forks worker processes, which is only allowed from the main thread "
                            "of a command-line process (python cli.py judge/generate --processes N)")


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self.next_start = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait for this request's turn; returns the monotonic time it was given."""
        if not self.interval:
            return time.monotonic()
        async with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)
        return start


def start_offsets(count: int, stagger: float, first_start: float = 0.0) -> list[float]:
    """Seconds from now at which each of ``count`` workers starts: one every ``stagger``."""
    return [first_start + i * stagger for i in range(max(1, count))]


class GaveUp(Exception):
    """A call that failed for good: its last error and how many attempts were made."""

    def __init__(self, cause: Exception, attempts: int):
        super().__init__(describe(cause))
        self.cause, self.attempts = cause, attempts


async def call_with_retries(client: openai.AsyncOpenAI, request: dict, settings: Settings, quirks: Quirks,
                            limiter: RateLimiter | None = None,
                            final: Callable[[Exception], bool] | None = None) -> Reply:
    """One request, retried on transient failures as ``settings`` say (``final(exc)`` True: no retry).
    Raises GaveUp."""
    attempt = 0
    while True:
        attempt += 1
        if limiter is not None:
            await limiter.wait()
        try:
            return await call(client, request, settings.timeout, quirks)
        except Exception as exc:  # noqa: BLE001 - classified here, handed on in GaveUp; nothing is swallowed
            if classify(exc) != "retry" or attempt >= settings.max_attempts or (final and final(exc)):
                raise GaveUp(exc, attempt) from exc
            await asyncio.sleep(retry_delay(settings.backoff_base, settings.backoff_max, attempt, exc))


def start_workers(take: Callable[[], Job | None], count: int, client: openai.AsyncOpenAI, settings: Settings,
                  answered: Callable[[Job, Reply], None], failed: Callable[[Job, str, int], None],
                  first_start: float = 0.0, quirks: Quirks | None = None) -> list[asyncio.Task]:
    """``count`` tasks that call ``take()`` for a job until it returns None, retrying each call as
    settings say; worker i starts ``first_start + i * settings.stagger`` seconds from now. A fatal
    error is reported for its job, stops these workers taking more, and ends that worker's task with
    Fatal. ``quirks``: the endpoint's request rewrites, shared (and learned) by all these workers."""
    quirks = quirks if quirks is not None else Quirks()
    limiter = RateLimiter(settings.rpm)
    stop = asyncio.Event()

    async def work(start: float):
        if start:
            await asyncio.sleep(start)
        while not stop.is_set() and (job := take()) is not None:
            try:
                reply = await call_with_retries(client, job.request, settings, quirks, limiter)
            except GaveUp as gave_up:
                failed(job, str(gave_up), gave_up.attempts)
                if classify(gave_up.cause) == "fatal":
                    stop.set()
                    raise Fatal(str(gave_up)) from gave_up.cause
                continue
            answered(job, reply)

    return [asyncio.create_task(work(start)) for start in start_offsets(count, settings.stagger, first_start)]


def first_failure(results: list) -> Fatal | None:
    """The Fatal among gathered worker results; any other exception is a bug and is raised."""
    unexpected = next((r for r in results if isinstance(r, BaseException)
                       and not isinstance(r, (Fatal, asyncio.CancelledError))), None)
    if unexpected:
        raise unexpected
    return next((r for r in results if isinstance(r, Fatal)), None)


async def run_jobs(ledger: Ledger, client: openai.AsyncOpenAI, settings: Settings,
                   cancel: threading.Event | None = None, quirks: Quirks | None = None) -> Progress:
    """Make the ledger's pending calls in this process. Returns the final Progress (status done /
    cancelled / failed)."""
    queue = collections.deque(ledger.pending)
    workers = start_workers(lambda: queue.popleft() if queue else None,
                            min(settings.concurrency, len(queue)), client, settings, ledger.answered, ledger.failed,
                            quirks=quirks)

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

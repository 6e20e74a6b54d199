"""The parent's side of a run, whichever process makes the calls: cache hits answered at once, a
request repeated within the run (a twin) sent once, and every answer or failure handed to the
orchestrator's callbacks, so writes and progress stay on the caller's one database connection."""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runs.replies import Reply


@dataclass
class Job:
    item_id: int  # response id (judging) or prompt id (generation)
    key: str  # cache key
    request: dict  # keyword arguments for chat.completions.create
    context: dict = field(default_factory=dict)


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


def cache_key(identity: str, request: dict, sample: int | None = None) -> str:
    """The result cache's key: who asks (judge name, or 'generate') and the exact request. A step
    that samples (temperature > 0) asks the same request several times on purpose: ``sample`` (which
    of them this is) keeps those apart, so five batches are five calls, each cached on its own."""
    key = {"identity": identity, "request": request}
    if sample is not None:
        key["sample"] = sample
    blob = json.dumps(key, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Ledger:
    def __init__(self, jobs: list[Job], hits: dict[str, dict], on_result: Callable[[Job, Reply], None],
                 on_error: Callable[[Job, str, int], None], on_progress: Callable[[Progress], None] | None):
        """``hits``: cached results by key (store.runs.cached), answered without a call (an entry
        without an answer, cached before empty replies were refused, is asked again)."""
        self.progress = Progress(total=len(jobs))
        self.on_result, self.on_error, self.on_progress = on_result, on_error, on_progress
        self.last_report = 0.0
        self.twins: dict[str, list[Job]] = {}
        self.pending: list[Job] = []  # the jobs that need a call, each request once
        for job in jobs:
            cached = Reply.from_cache(hits[job.key]) if job.key in hits else None
            if cached is not None:
                self.deliver(job, cached)
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
            self.deliver(twin, Reply(text=reply.text, reasoning=reply.reasoning, finish_reason=reply.finish_reason,
                                     cached=True))

    def answer_first(self, job: Job, reply: Reply):
        """An answer got before the run's calls began (runs/learn.py asked it): it answers the
        pending job with the same request, which is then not sent again."""
        for index, pending in enumerate(self.pending):
            if pending.key == job.key:
                del self.pending[index]
                self.answered(pending, reply)
                return

    def failed(self, job: Job, error: str, attempts: int):
        for each in [job, *self.twins.pop(job.key, [])]:
            self.on_error(each, error, attempts)
            self.progress.errors += 1
        self.report()

    def finish(self, status: str, message: str = "") -> Progress:
        self.progress.status, self.progress.message = status, message
        self.report(force=True)
        return self.progress

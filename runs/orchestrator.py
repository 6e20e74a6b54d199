"""The one run orchestrator: every judging and generation run, from the CLI or the app, goes here.

It alone registers the judge, finds the items in the selection that have no result yet, resolves
their rubrics, starts the run, records each result the moment it arrives (with its cache entry and
the run's counters, in one small transaction) and finishes the run. Judges (judges/) stay pure:
they turn items into requests or verdicts; the store (store/) only reads and writes.

A run killed at any instant leaves the store consistent, and a re-run picks up exactly the items
that have no result yet; LLM calls answered before are read from the result cache, never paid twice.
"""

import asyncio
import threading
from collections.abc import Callable

from judges.generate import Generator
from runs import processes
from runs.calls import Reply
from runs.endpoint import Endpoint
from runs.ledger import Job, Ledger, Progress, cache_key
from runs.pool import Settings, run_jobs
from store import categories, runs
from store.selection import Selection

BATCH_CHUNK = 5000  # responses a batch judge holds in memory at once


def judge(db, judge, selection: Selection = Selection(), *, endpoint: Endpoint | None = None,
          settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
          on_progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Judge every response in ``selection`` that ``judge`` has not judged yet (at most ``limit``).
    ``actor``: the app's user (role-checked by the store); None is the command line. Returns
    (run id, final Progress)."""
    if hasattr(judge, "label_items"):
        return _judge_in_batches(db, judge, selection, limit, actor, on_progress, cancel)
    endpoint, settings = endpoint or Endpoint(), settings or Settings()
    endpoint.key()  # a missing key fails here, before anything is written
    judge_id = runs.register_judge(db, judge, actor)
    items = runs.responses_lacking_verdict(db, judge_id, selection, limit)
    rubrics = categories.rubrics_for(db, [i["prompt_id"] for i in items]) if judge.uses_rubric else {}
    jobs = []
    for item in items:
        request = judge.request(item, judge.rubric_for(item, rubrics.get(item["prompt_id"])))
        jobs.append(Job(item["response_id"], cache_key(judge.name, request), request, item))
    config = {"judge": judge.name, "selection": selection.changed(), "limit": limit, **_endpoint_config(endpoint,
                                                                                                         settings)}
    run_id = runs.start_run(db, "judge", judge.name, config, len(jobs), actor)

    def on_result(job: Job, reply: Reply):
        label, rationale = judge.parse(reply.text, job.context)
        runs.record_verdict(db, run_id, dict(
            response_id=job.item_id, judge_id=judge_id, label=label, rationale=rationale, raw_output=reply.text,
            latency_ms=None if reply.cached else round(reply.latency_ms, 1),
            prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        ), job.key, reply.to_cache())

    return run_id, _send(db, run_id, jobs, endpoint, settings, on_result, on_progress, cancel)


def generate(db, generator: Generator, selection: Selection = Selection(), *, endpoint: Endpoint,
             settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
             on_progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Ask ``generator.model`` every prompt in ``selection`` it has not answered (at most ``limit``).
    Returns (run id, final Progress)."""
    settings = settings or Settings()
    endpoint.key()
    prompts = runs.prompts_lacking_response(db, generator.model, selection, limit)
    jobs = []
    for prompt in prompts:
        request = generator.request(prompt)
        jobs.append(Job(prompt["prompt_id"], cache_key("generate", request), request))
    config = {"model": generator.model, "selection": selection.changed(), "limit": limit,
              **_endpoint_config(endpoint, settings), **generator.stored_settings}
    run_id = runs.start_run(db, "generate", generator.model, config, len(jobs), actor)

    def on_result(job: Job, reply: Reply):
        runs.record_response(db, run_id, dict(
            prompt_id=job.item_id, model=generator.model, text=reply.text, origin="generate",
            settings={**generator.stored_settings, "finish_reason": reply.finish_reason, "run_id": run_id},
        ), (reply.prompt_tokens, reply.completion_tokens), job.key, reply.to_cache())

    return run_id, _send(db, run_id, jobs, endpoint, settings, on_result, on_progress, cancel)


def _endpoint_config(endpoint: Endpoint, settings: Settings) -> dict:
    """What a run records about where and how it sent requests (never the key)."""
    return {"base_url": endpoint.base_url, "concurrency": settings.concurrency, "rpm": settings.rpm,
            "processes": settings.processes}


def _judge_in_batches(db, judge, selection: Selection, limit: int | None, actor: str | None,
                      on_progress, cancel) -> tuple[int, Progress]:
    """A batch judge (rules, learned) over the selection, one chunk of responses in memory at a
    time, each chunk committed as it is labelled."""
    judge_id = runs.register_judge(db, judge, actor)
    total = runs.count_lacking_verdict(db, judge_id, selection)
    total = min(total, limit) if limit else total
    config = {"judge": judge.name, "selection": selection.changed(), "limit": limit, **judge.config}
    run_id = runs.start_run(db, "judge", judge.name, config, total, actor)
    progress, last = Progress(total=total), 0
    try:
        while progress.done < total:
            if cancel is not None and cancel.is_set():
                progress.status = "cancelled"
                break
            chunk = runs.responses_lacking_verdict(db, judge_id, selection, min(BATCH_CHUNK, total - progress.done),
                                                   after=last)
            if not chunk:
                break
            verdicts = judge.label_items(chunk)
            runs.record_verdicts(db, run_id, [dict(response_id=item["response_id"], judge_id=judge_id, **verdict)
                                              for item, verdict in zip(chunk, verdicts)])
            last = chunk[-1]["response_id"]
            progress.done += len(chunk)
            if on_progress:
                on_progress(progress)
        if progress.status == "running":
            progress.status = "done"
    except BaseException:
        runs.finish_run(db, run_id, "failed")
        raise
    runs.finish_run(db, run_id, progress.status)
    if on_progress:
        on_progress(progress)
    return run_id, progress


def _send(db, run_id: int, jobs: list[Job], endpoint: Endpoint, settings: Settings,
          on_result: Callable[[Job, Reply], None], on_progress, cancel) -> Progress:
    """Make the run's calls (cached ones answered from the store, the rest over HTTP in this process
    or in worker processes); failures go to run_errors, and the run ends marked done, cancelled or
    failed (also when interrupted)."""

    def on_error(job: Job, error: str, attempts: int):
        runs.record_error(db, run_id, job.item_id, error, attempts)

    async def in_this_process(ledger: Ledger) -> Progress:
        client = endpoint.client(settings.timeout)
        try:
            return await run_jobs(ledger, client, settings, cancel)
        finally:
            await client.close()

    try:
        ledger = Ledger(jobs, runs.cached(db, [job.key for job in jobs]), on_result, on_error, on_progress)
        if settings.processes > 1:
            progress = processes.run_jobs(ledger, endpoint, settings, cancel)
        else:
            progress = asyncio.run(in_this_process(ledger))
    except BaseException:
        runs.finish_run(db, run_id, "failed")
        raise
    runs.finish_run(db, run_id, progress.status)
    return progress

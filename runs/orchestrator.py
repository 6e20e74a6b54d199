"""The one run orchestrator: every judging and generation run, from the CLI or the app, goes here.

Run kinds: ``judge`` (responses), ``generate`` (responses to prompts), and the steps that build a
prompt set the way OR-Bench does: ``seed`` and ``rewrite`` (prompts from a model, recorded with
their provenance), ``moderate`` (moderators' verdicts on prompts), and two steps that make no calls,
``hard`` and ``publish`` (copies of prompts chosen from stored verdicts and labels).

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

from analysis import moderation
from errors import UserError
from judges import promptgen
from judges.generate import Generator
from runs import processes
from runs.calls import Reply
from runs.endpoint import Endpoint
from runs.ledger import Job, Ledger, Progress, cache_key
from runs.pool import Settings, run_jobs
from store import categories, prompt_labels, promptsets, runs
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


# -- building a prompt set ------------------------------------------------------------------------------

def seed(db, step: promptgen.SeedStep, dataset: str, n: int, *, endpoint: Endpoint,
         settings: Settings | None = None, actor: str | None = None,
         on_progress: Callable[[Progress], None] | None = None,
         cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Toxic seeds for ``step.category`` into ``dataset``: ``n`` asked for, ``step.per_call`` a call.
    Each call is the same request; its sample index is part of the cache key, so the calls stay
    distinct, and a re-run makes only the calls that have no answer yet."""
    settings = settings or Settings()
    endpoint.key()
    promptsets.ensure_target(db, dataset, "seed")
    sizes = promptgen.seed_calls(n, step.per_call)
    identity = f"{step.name}@{dataset}"
    jobs = []
    for sample in promptsets.samples_lacking(db, step.name, dataset, step.category, len(sizes)):
        request = step.request(sizes[sample])
        jobs.append(Job(sample, cache_key(identity, request, sample), request))
    config = {"step": "seed", "dataset": dataset, "category": step.category, "n": n, "per_call": step.per_call,
              "examples": len(step.examples), **step.settings, **_endpoint_config(endpoint, settings)}
    run_id = runs.start_run(db, "generate", step.name, config, len(jobs), actor)

    def on_result(job: Job, reply: Reply):
        parsed = step.read(reply.text, job.request)
        _record_call(db, run_id, step, job, reply, parsed, dict(dataset=dataset, category=step.category,
                                                              sample=job.item_id), step.category)

    return run_id, _send(db, run_id, jobs, endpoint, settings, on_result, on_progress, cancel)


def rewrite(db, step: promptgen.RewriteStep, selection: Selection, into: str, *, endpoint: Endpoint,
            settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Each prompt in ``selection`` (the seeds) that ``step`` has not rewritten into ``into`` yet,
    rewritten into ``step.per_seed`` prompts; each new prompt keeps its seed as its parent."""
    settings = settings or Settings()
    endpoint.key()
    if selection.dataset == into:
        raise UserError(f"rewrite into a new dataset, not into the seeds' own ({into!r})")
    promptsets.ensure_target(db, into, "rewrite")
    identity = f"{step.name}@{into}"
    jobs = []
    for item in promptsets.seeds_lacking_rewrite(db, step.name, into, selection, limit):
        request = step.request(item)
        jobs.append(Job(item["prompt_id"], cache_key(identity, request, 0), request, item))
    config = {"step": "rewrite", "dataset": into, "selection": selection.changed(), "limit": limit,
              "per_seed": step.per_seed, **step.settings, **_endpoint_config(endpoint, settings)}
    run_id = runs.start_run(db, "generate", step.name, config, len(jobs), actor)

    def on_result(job: Job, reply: Reply):
        parsed = step.read(reply.text, job.request, job.context)
        _record_call(db, run_id, step, job, reply, parsed, dict(dataset=into, parent_id=job.item_id, sample=0),
                     job.context["category"])

    return run_id, _send(db, run_id, jobs, endpoint, settings, on_result, on_progress, cancel)


def _record_call(db, run_id: int, step: promptgen.Step, job: Job, reply: Reply, parsed: promptgen.Parsed,
                 where: dict, category: str | None) -> None:
    call = dict(step=step.kind, generator=step.name, model=step.model, template_hash=step.template_hash,
                raw_output=reply.text, format=parsed.format, parsed=parsed.parsed, echoes=parsed.echoes,
                repeats=parsed.repeats, latency_ms=None if reply.cached else round(reply.latency_ms, 1),
                prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens, **where)
    prompts = [dict(source_id=promptgen.prompt_key(text), text=text, category=category) for text in parsed.prompts]
    promptsets.record_call(db, run_id, call, prompts, job.key, reply.to_cache())


def moderate(db, moderator: promptgen.Moderator, selection: Selection, *, endpoint: Endpoint,
             settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
             on_progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Every prompt in ``selection`` that ``moderator`` has no verdict on yet, classified into one
    of OR-Bench's categories or none; an unreadable reply is recorded as ``unparsed``."""
    settings = settings or Settings()
    endpoint.key()
    judge_id = runs.register_judge(db, moderator, actor)
    jobs = []
    for item in promptsets.prompts_lacking_moderation(db, judge_id, selection, limit):
        request = moderator.request(item)
        jobs.append(Job(item["prompt_id"], cache_key(moderator.name, request), request, item))
    config = {"step": "moderate", "moderator": moderator.name, "selection": selection.changed(), "limit": limit,
              **_endpoint_config(endpoint, settings)}
    run_id = runs.start_run(db, "judge", moderator.name, config, len(jobs), actor)

    def on_result(job: Job, reply: Reply):
        label, rationale = moderator.parse(reply.text, job.context)
        promptsets.record_moderation(db, run_id, dict(
            prompt_id=job.item_id, judge_id=judge_id, label=label, rationale=rationale, raw_output=reply.text,
            latency_ms=None if reply.cached else round(reply.latency_ms, 1),
            prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        ), job.key, reply.to_cache())

    return run_id, _send(db, run_id, jobs, endpoint, settings, on_result, on_progress, cancel)


def expected_behaviour(db, dataset: str, rule: str = "majority", moderators: list[str] | None = None):
    """Each prompt of ``dataset`` with its expected behaviour: the human label where there is one,
    else the moderators' ensemble under ``rule`` (analysis.moderation.expected_behaviour)."""
    return moderation.expected_behaviour(promptsets.prompts_frame(db, Selection(dataset=dataset)),
                                         promptsets.moderations_frame(db, dataset),
                                         prompt_labels.labels_frame(db), rule, moderators)


def hard(db, dataset: str, judge: str, into: str, *, min_refusals: int = 1, rule: str = "majority",
         actor: str | None = None) -> dict:
    """The safe prompts of ``dataset`` (expected should_comply: human label, else the ensemble) that
    at least ``min_refusals`` models refuse by ``judge``, copied into ``into`` with the refusing
    models in their provenance (OR-Bench-Hard-1K's recipe). Returns counts."""
    judge = runs.resolve_judge(db, judge)
    expected = expected_behaviour(db, dataset, rule)
    chosen = moderation.hard(expected, promptsets.refusals_frame(db, dataset, judge), min_refusals)
    rows = [dict(prompt_id=int(r.prompt_id), expected="should_comply",
                 detail={"judge": judge, "refused_by": r.models.split(",") if r.models else [],
                         "answered_by": int(r.answered), "min_refusals": min_refusals, "rule": rule})
            for r in chosen.itertuples()]
    added = promptsets.copy_prompts(db, rows, into, "hard", actor)
    return {"dataset": dataset, "into": into, "safe": int((expected["expected"] == "should_comply").sum()),
            "hard": len(rows), "added": added}


def publish(db, dataset: str, into: str, *, rule: str = "majority", actor: str | None = None) -> dict:
    """A built set as a dataset of its own: every prompt whose expected behaviour is known (the
    human label where there is one, else the ensemble) copied into ``into`` with that expectation
    and where it came from; prompts the humans call unclear, or nobody decided, are left out and
    counted."""
    expected = expected_behaviour(db, dataset, rule)
    known = expected[expected["expected"].notna()]
    rows = [dict(prompt_id=int(r.prompt_id), expected=r.expected, category=r.category,
                 detail={"expected_from": r.expected_from, "rule": rule}) for r in known.itertuples()]
    added = promptsets.copy_prompts(db, rows, into, "publish", actor)
    counts = known["expected_from"].value_counts()
    return {"dataset": dataset, "into": into, "prompts": len(expected), "published": len(rows), "added": added,
            "from_human": int(counts.get("human", 0)), "from_ensemble": int(counts.get("ensemble", 0)),
            "left_out": len(expected) - len(rows)}


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

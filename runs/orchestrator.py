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
A run records the process that runs it: one whose process is gone is marked ``interrupted`` by the
next run or page that looks (``reap``), and ``resume`` re-runs it. Live calls go through the pool (in
this process or forked workers); ``batch`` sends them through the provider's Batch API instead, on
the same recording path. What an endpoint accepts (structured output, parameters) is learned from
its first answer and remembered per base URL and model (runs/learn.py, store.endpoints).
"""

import asyncio
import dataclasses
import json
import os
import threading
from collections.abc import Callable

import judges
from analysis import moderation
from errors import UserError
from judges import promptgen
from judges.generate import Generator
from judges.llm import LLMJudge
from runs import batch as batches_api
from runs import labelling, learn, liveness, processes
from runs.batch import BatchBook, BatchSettings
from runs.calls import Quirks
from runs.endpoint import Endpoint
from runs.ledger import Job, Ledger, Progress, cache_key
from runs.pool import Settings, run_jobs
from runs.replies import Reply
from store import batches, categories, endpoints, prompt_labels, promptsets, runs, users
from store.selection import Selection

# Responses a batch judge labels (and holds in memory) at once. Each chunk pays RE2's compile and
# warm-up for every rule group once, whatever its size: at 960,000 responses 20,000 a chunk ran 3 s
# faster than 5,000 (four alternating runs), for 720 MB across the run's three processes instead of 450.
BATCH_CHUNK = 20_000
PREVIEW_SAMPLE = 200  # requests built to estimate a run's prompt tokens
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text; a preview says it is an estimate


@dataclasses.dataclass
class Preview:
    """What a run would send, before it is started: nothing is written and nothing sent."""
    what: str  # the judge's name (or "KIND:MODEL:auto"), or the generating model
    items: int
    prompt_tokens: int | None = None  # estimated: characters / CHARS_PER_TOKEN
    completion_tokens: int | None = None
    completion_basis: str = ""  # "max_tokens (upper bound)" or "mean of earlier runs"
    structured: str | None = None  # an LLM judge's mode, with how it is known
    cost: float | None = None  # in the price's currency, when prices were given

    def lines(self) -> list[str]:
        out = [f"{self.items:,} items for {self.what}"]
        if self.structured:
            out.append(f"structured output: {self.structured}")
        if self.prompt_tokens is not None:
            out.append(f"estimated prompt tokens: {self.prompt_tokens:,} (characters / {CHARS_PER_TOKEN})")
            out.append(f"estimated completion tokens: {self.completion_tokens:,} ({self.completion_basis})")
        if self.cost is not None:
            out.append(f"estimated cost: {self.cost:,.4f}")
        return out


def judge(db, judge, selection: Selection = Selection(), *, endpoint: Endpoint | None = None,
          settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
          on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
          batch: BatchSettings | None = None, resumes: int | None = None) -> tuple[int, Progress]:
    """Judge every response in ``selection`` that ``judge`` has not judged yet (at most ``limit``).
    ``actor``: the app's user (role-checked by the store); None is the command line. ``batch``:
    through the provider's Batch API. ``resumes``: the interrupted run this one continues. Returns
    (run id, final Progress)."""
    reap(db)
    if hasattr(judge, "label_items"):
        return _judge_in_batches(db, judge, selection, limit, actor, on_progress, cancel,
                                 (settings or Settings()).processes)
    endpoint, settings = endpoint or Endpoint(), settings or Settings()
    endpoint.key()  # a missing key fails here, before anything is written
    if actor is not None:
        users.require_role(db, actor, "reviewer")  # before learning the endpoint costs a call
    quirks = _quirks(db, endpoint, judge.model)
    judge, first = _resolve_structured(db, judge, selection, endpoint, settings, quirks)
    judge_id = runs.register_judge(db, judge, actor)
    items = runs.responses_lacking_verdict(db, judge_id, selection, limit)
    rubrics = categories.rubrics_for(db, [i["prompt_id"] for i in items]) if judge.uses_rubric else {}
    jobs = [_judge_job(judge, item, rubrics) for item in items]
    config = {"judge": judge.name, "selection": selection.changed(), "limit": limit, "structured": judge.structured,
              **_endpoint_config(endpoint, settings, batch), **({"resumes": resumes} if resumes else {})}

    def on_result(run_id: int, job: Job, reply: Reply):
        label, rationale = judge.parse(reply.text, job.context)
        runs.record_verdict(db, run_id, dict(
            response_id=job.item_id, judge_id=judge_id, label=label, rationale=rationale, raw_output=reply.raw,
            latency_ms=_latency(reply), prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        ), job.key, reply.to_cache())

    return _run(db, "judge", judge.name, judge.model, config, jobs, endpoint, settings, quirks, first, on_result,
                actor, on_progress, cancel, batch)


def generate(db, generator: Generator, selection: Selection = Selection(), *, endpoint: Endpoint,
             settings: Settings | None = None, limit: int | None = None, actor: str | None = None,
             on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
             batch: BatchSettings | None = None, resumes: int | None = None) -> tuple[int, Progress]:
    """Ask ``generator.model`` every prompt in ``selection`` it has not answered (at most ``limit``).
    Returns (run id, final Progress)."""
    reap(db)
    settings = settings or Settings()
    endpoint.key()
    quirks = _quirks(db, endpoint, generator.model)
    prompts = runs.prompts_lacking_response(db, generator.model, selection, limit)
    jobs = []
    for prompt in prompts:
        request = generator.request(prompt)
        jobs.append(Job(prompt["prompt_id"], cache_key("generate", request), request))
    config = {"model": generator.model, "selection": selection.changed(), "limit": limit,
              "system_prompt": generator.system_prompt, **generator.stored_settings,
              **_endpoint_config(endpoint, settings, batch), **({"resumes": resumes} if resumes else {})}

    def on_result(run_id: int, job: Job, reply: Reply):
        stored = {**generator.stored_settings, "finish_reason": reply.finish_reason, "run_id": run_id}
        if reply.reasoning:
            stored["reasoning"] = reply.reasoning
        runs.record_response(db, run_id, dict(prompt_id=job.item_id, model=generator.model, text=reply.text,
                                              origin="generate", settings=stored),
                             (reply.prompt_tokens, reply.completion_tokens), job.key, reply.to_cache())

    return _run(db, "generate", generator.model, generator.model, config, jobs, endpoint, settings, quirks, None,
                on_result, actor, on_progress, cancel, batch)


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
              "examples": len(step.examples), **step.settings, **_endpoint_config(endpoint, settings, None)}

    def on_result(run_id: int, job: Job, reply: Reply):
        parsed = step.read(reply.text, job.request)
        _record_call(db, run_id, step, job, reply, parsed, dict(dataset=dataset, category=step.category,
                                                              sample=job.item_id), step.category)

    return _run(db, "generate", step.name, step.model, config, jobs, endpoint, settings,
                _quirks(db, endpoint, step.model), None, on_result, actor, on_progress, cancel, None)


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
              "per_seed": step.per_seed, **step.settings, **_endpoint_config(endpoint, settings, None)}

    def on_result(run_id: int, job: Job, reply: Reply):
        parsed = step.read(reply.text, job.request, job.context)
        _record_call(db, run_id, step, job, reply, parsed, dict(dataset=into, parent_id=job.item_id, sample=0),
                     job.context["category"])

    return _run(db, "generate", step.name, step.model, config, jobs, endpoint, settings,
                _quirks(db, endpoint, step.model), None, on_result, actor, on_progress, cancel, None)


def _record_call(db, run_id: int, step: promptgen.Step, job: Job, reply: Reply, parsed: promptgen.Parsed,
                 where: dict, category: str | None) -> None:
    call = dict(step=step.kind, generator=step.name, model=step.model, template_hash=step.template_hash,
                raw_output=reply.raw, format=parsed.format, parsed=parsed.parsed, echoes=parsed.echoes,
                repeats=parsed.repeats, latency_ms=_latency(reply),
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
              **_endpoint_config(endpoint, settings, None)}

    def on_result(run_id: int, job: Job, reply: Reply):
        label, rationale = moderator.parse(reply.text, job.context)
        promptsets.record_moderation(db, run_id, dict(
            prompt_id=job.item_id, judge_id=judge_id, label=label, rationale=rationale, raw_output=reply.raw,
            latency_ms=_latency(reply), prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        ), job.key, reply.to_cache())

    return _run(db, "judge", moderator.name, moderator.model, config, jobs, endpoint, settings,
                _quirks(db, endpoint, moderator.model), None, on_result, actor, on_progress, cancel, None)


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


def preview(db, what, selection: Selection = Selection(), *, endpoint: Endpoint | None = None,
            limit: int | None = None, price_in: float | None = None, price_out: float | None = None) -> Preview:
    """What a judge (or a Generator) would send for ``selection``: items, estimated prompt and
    completion tokens, and the cost at ``price_in`` / ``price_out`` per million tokens. Reads only:
    an LLM judge's ``auto`` mode is shown as remembered for the endpoint, or as still to be learned."""
    structured = None
    if isinstance(what, Generator):
        name, kind, max_tokens = what.model, "generate", what.max_tokens
        items = runs.count_prompts_lacking_response(db, name, selection)
        requests = [what.request(p) for p in runs.prompts_lacking_response(db, name, selection, PREVIEW_SAMPLE)]
    elif not isinstance(what, LLMJudge):  # a batch judge: no tokens
        items = runs.count_lacking_verdict(db, runs.judge_id(db, what.name), selection)
        return Preview(what.name, min(items, limit) if limit else items)
    else:
        structured = what.structured
        if what.structured == "auto":
            known = endpoints.features(db, (endpoint or Endpoint()).url, what.model).get("structured")
            what = what.with_structured(known) if known else what
            structured = (f"{known} (learned from this endpoint before)" if known
                          else "auto (learned from the endpoint's answer to the first request)")
        learned = what.structured != "auto"
        name, kind, max_tokens = (what.name if learned else f"{what.kind}:{what.model}:auto"), "judge", \
            what.settings.get("max_tokens")
        judge_id = runs.judge_id(db, what.name) if learned else None
        items = runs.count_lacking_verdict(db, judge_id, selection)
        sample = runs.responses_lacking_verdict(db, judge_id, selection, PREVIEW_SAMPLE)
        rubrics = categories.rubrics_for(db, [i["prompt_id"] for i in sample]) if what.uses_rubric else {}
        shown = what if learned else what.with_structured("off")  # the messages are the same in every mode
        requests = [shown.request(item, shown.rubric_for(item, rubrics.get(item["prompt_id"]))) for item in sample]
    items = min(items, limit) if limit else items
    chars = sum(len(str(m.get("content", ""))) for request in requests for m in request["messages"])
    prompt_tokens = round(chars / CHARS_PER_TOKEN / len(requests) * items) if requests else 0
    mean = runs.mean_completion_tokens(db, kind, name)
    per_item, basis = (mean, "mean of earlier runs") if mean is not None else (max_tokens, "max_tokens, an upper bound")
    completion_tokens = round((per_item or 0) * items)
    cost = None
    if price_in is not None or price_out is not None:
        cost = (prompt_tokens * (price_in or 0) + completion_tokens * (price_out or 0)) / 1e6
    return Preview(name, items, prompt_tokens, completion_tokens, basis, structured, cost)


def reap(db) -> list[int]:
    """Mark runs whose process is gone as interrupted (a killed run would stay 'running' forever).
    Returns their ids."""
    dead = [run["id"] for run in runs.running_runs(db) if not liveness.alive(run["pid"], run["owner"])]
    runs.mark_interrupted(db, dead)
    return dead


def resume(db, run_id: int, *, api_key: str | None = None, actor: str | None = None,
           on_progress: Callable[[Progress], None] | None = None,
           cancel: threading.Event | None = None) -> tuple[int, Progress]:
    """Run again what interrupted run ``run_id`` was doing: the same judge (or model and settings)
    on the same selection and endpoint, for the items it left. ``api_key``: a key typed again (keys
    are never stored); else the run's key variable is read."""
    run = runs.get_run(db, run_id)
    config = json.loads(run["config"])
    selection = Selection(**config.get("selection", {}))
    endpoint = Endpoint(config.get("base_url"), api_key, config.get("api_key_env") or "OPENAI_API_KEY")
    settings = Settings(concurrency=config.get("concurrency", Settings.concurrency), rpm=config.get("rpm"))
    limit = max(config["limit"] - run["n_done"], 1) if config.get("limit") else None
    batch = BatchSettings(poll_every=config["poll_every"]) if config.get("batch") else None
    common = dict(selection=selection, endpoint=endpoint, settings=settings, limit=limit, actor=actor,
                  on_progress=on_progress, cancel=cancel, batch=batch, resumes=run_id)
    if run["kind"] == "generate":
        generator = Generator(run["target"], config.get("system_prompt"), config.get("max_tokens", 1024),
                              config.get("temperature", 0.0), config.get("base_url"))
        return generate(db, generator, **common)
    rebuilt = judges.rebuild(run["target"], runs.judge_config(db, run["target"]) or {})
    if not isinstance(rebuilt, LLMJudge):
        common = dict(selection=selection, limit=limit, actor=actor, on_progress=on_progress, cancel=cancel)
    return judge(db, rebuilt, **common)


# -- the parts ---------------------------------------------------------------------------------------

def _quirks(db, endpoint: Endpoint, model: str) -> Quirks:
    """The request rewrites this endpoint and model taught earlier runs."""
    return Quirks.from_features(endpoints.features(db, endpoint.url, model))


def _latency(reply: Reply) -> float | None:
    """A call's latency as stored: none for an answer from the cache or a batch."""
    return None if reply.cached or reply.latency_ms is None else round(reply.latency_ms, 1)


def _judge_job(judge: LLMJudge, item: dict, rubrics: dict) -> Job:
    request = judge.request(item, judge.rubric_for(item, rubrics.get(item["prompt_id"])))
    return Job(item["response_id"], cache_key(judge.name, request), request, item)


def _resolve_structured(db, judge: LLMJudge, selection: Selection, endpoint: Endpoint, settings: Settings,
                        quirks: Quirks) -> tuple[LLMJudge, tuple[Job, Reply] | None]:
    """The judge with its structured mode settled, and the answer that settled it (given to the run).
    An explicit mode is used as it is; ``auto`` takes what this endpoint and model taught before,
    else learns it now from the first items of the selection and remembers it."""
    if judge.structured != "auto":
        return judge, None
    known = endpoints.features(db, endpoint.url, judge.model).get("structured")
    if known:
        return judge.with_structured(known), None
    items = runs.responses_lacking_verdict(db, None, selection, learn.PROBE_ITEMS)
    if not items:
        return judge.with_structured("off"), None  # nothing to judge: nothing to learn from
    rubrics = categories.rubrics_for(db, [i["prompt_id"] for i in items]) if judge.uses_rubric else {}

    async def probe():
        client = endpoint.client(settings.timeout)
        try:
            return await learn.structured_mode(client, settings, quirks, items,
                                               lambda mode, item: _judge_job(judge.with_structured(mode), item,
                                                                             rubrics))
        finally:
            await client.close()

    mode, job, reply = asyncio.run(probe())
    endpoints.remember(db, endpoint.url, judge.model, quirks.learned())
    if reply is None:
        return judge.with_structured(mode), None  # not confirmed by an answer: learned again next time
    endpoints.remember(db, endpoint.url, judge.model, {"structured": mode})
    return judge.with_structured(mode), (job, reply)


def _endpoint_config(endpoint: Endpoint, settings: Settings, batch: BatchSettings | None) -> dict:
    """What a run records about where and how it sent requests (the key's variable, never the key)."""
    config = {"base_url": endpoint.base_url, "api_key_env": endpoint.api_key_env, "concurrency": settings.concurrency,
              "rpm": settings.rpm, "processes": settings.processes}
    if batch:
        config.update(batch=True, poll_every=batch.poll_every)
    return config


def _run(db, kind: str, target: str, model: str, config: dict, jobs: list[Job], endpoint: Endpoint,
         settings: Settings, quirks: Quirks, first: tuple[Job, Reply] | None,
         on_result: Callable[[int, Job, Reply], None], actor: str | None, on_progress, cancel,
         batch: BatchSettings | None) -> tuple[int, Progress]:
    """Start (or, for a batch left open by a killed process, take over) the run, make its calls and
    finish it: failures go to run_errors, and the run ends done, cancelled, failed or interrupted."""
    open_rows = batches.open_batches(db, kind, target, endpoint.url)
    if open_rows and not batch:
        raise UserError(f"run {open_rows[0]['run_id']} has a batch still open at {endpoint.url} for {target}: "
                        "run again with --batch to collect it (a live run would pay for its items twice)")
    if open_rows:
        run_id = open_rows[0]["run_id"]
        open_rows = [row for row in open_rows if row["run_id"] == run_id]
        runs.take_over(db, run_id, os.getpid(), liveness.owner())
    else:
        run_id = runs.start_run(db, kind, target, config, len(jobs), actor, os.getpid(), liveness.owner())

    def on_error(job: Job, error: str, attempts: int):
        runs.record_error(db, run_id, job.item_id, error, attempts)

    try:
        ledger = Ledger(jobs, runs.cached(db, [job.key for job in jobs]),
                        lambda job, reply: on_result(run_id, job, reply), on_error, on_progress)
        if first is not None:
            ledger.answer_first(*first)
        if batch:
            progress = asyncio.run(_in_batches(db, run_id, ledger, endpoint, settings, quirks, batch, open_rows,
                                               cancel))
        elif settings.processes > 1:
            progress = processes.run_jobs(ledger, endpoint, settings, cancel, quirks)
        else:
            progress = asyncio.run(_in_this_process(ledger, endpoint, settings, quirks, cancel))
    except BaseException as exc:
        # A batch stopped by Ctrl-C keeps running at the provider: interrupted, resumed next time.
        runs.finish_run(db, run_id, "interrupted" if batch and isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    endpoints.remember(db, endpoint.url, model, quirks.learned())
    runs.finish_run(db, run_id, progress.status)
    return run_id, progress


async def _in_this_process(ledger: Ledger, endpoint: Endpoint, settings: Settings, quirks: Quirks,
                           cancel) -> Progress:
    client = endpoint.client(settings.timeout)
    try:
        return await run_jobs(ledger, client, settings, cancel, quirks)
    finally:
        await client.close()


async def _in_batches(db, run_id: int, ledger: Ledger, endpoint: Endpoint, settings: Settings, quirks: Quirks,
                      batch: BatchSettings, open_rows: list[dict], cancel) -> Progress:
    book = BatchBook(uploaded=lambda file_id, n: batches.add(db, run_id, endpoint.url, file_id, n),
                     created=lambda row_id, batch_id, status: batches.set_batch(db, row_id, batch_id, status),
                     status=lambda row_id, status: batches.set_status(db, row_id, status))
    client = endpoint.client(settings.timeout)
    try:
        return await batches_api.run(client, ledger, quirks, batch, book, open_rows, cancel)
    finally:
        await client.close()


def _judge_in_batches(db, judge, selection: Selection, limit: int | None, actor: str | None,
                      on_progress, cancel, processes: int = 1) -> tuple[int, Progress]:
    """A batch judge (rules, learned) over the selection, BATCH_CHUNK responses at a time, each
    chunk committed as it is labelled; with ``processes`` > 1 the chunks are labelled in forked
    workers while this process reads and writes (runs/labelling.py)."""
    judge_id = runs.register_judge(db, judge, actor)
    total = runs.count_lacking_verdict(db, judge_id, selection)
    total = min(total, limit) if limit else total
    config = {"judge": judge.name, "selection": selection.changed(), "limit": limit, **judge.config}
    run_id = runs.start_run(db, "judge", judge.name, config, total, actor, os.getpid(), liveness.owner())
    progress = Progress(total=total)

    def chunks():
        read, last = 0, 0
        while read < total and not (cancel is not None and cancel.is_set()):
            ids = runs.ids_lacking_verdict(db, judge_id, selection, min(BATCH_CHUNK, total - read), after=last)
            if not ids:
                return
            read, last = read + len(ids), ids[-1]
            yield ids

    try:
        workers = processes if total > BATCH_CHUNK else 1  # one chunk: nothing to spread
        for ids, verdicts in labelling.labelled(judge, db, chunks(), workers):
            runs.record_verdicts(db, run_id, [dict(response_id=response_id, judge_id=judge_id, **verdict)
                                              for response_id, verdict in zip(ids, verdicts)])
            progress.done += len(ids)
            if on_progress:
                on_progress(progress)
        if cancel is not None and cancel.is_set() and progress.done < total:
            progress.status = "cancelled"
        elif progress.status == "running":
            progress.status = "done"
    except BaseException:
        runs.finish_run(db, run_id, "failed")
        raise
    runs.finish_run(db, run_id, progress.status)
    if on_progress:
        on_progress(progress)
    return run_id, progress

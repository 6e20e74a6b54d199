"""The runner's calls spread over forked worker processes (``Settings.processes`` > 1).

Why: against a fast local endpoint (vLLM, Ollama answering in tens of ms) at high concurrency, the
openai client's own CPU per request (1.3-1.8 ms on a small machine) caps what one Python process can
keep in flight. Each worker process runs its own event loop and AsyncOpenAI client with a share of
the limits (ceil(concurrency / N) requests in flight, rpm / N) and does its own retries.

Everything else stays in the parent (runs.ledger.Ledger): the cache check, twins, every database and
cache write, progress. A worker only makes calls and sends back (index, Reply) or (index, error,
attempts) on its own pipe, written before it takes its next item, so a worker that dies loses
nothing it finished. Items a dead worker had taken but not answered are recorded as errors; items
no worker took are left for a re-run, and the run ends 'failed' saying so: nothing is dropped
silently. Cancel sets a shared event: the workers take no new item and finish those in flight.

Fork, not spawn: the workers inherit the jobs, the endpoint (with its key: never in argv or the
environment of a new process) and the settings by memory. Forking is only safe from a process that
has one thread, so Settings refuses processes > 1 off the main thread and the app (a multi-threaded
server) always runs in one process; only the CLI and the benches use this.
"""

import asyncio
import dataclasses
import math
import multiprocessing
import multiprocessing.connection
import signal
import threading

from runs import pool
from runs.calls import Fatal, Quirks
from runs.endpoint import Endpoint, tls_context
from runs.ledger import Job, Ledger, Progress


def run_jobs(ledger: Ledger, endpoint: Endpoint, settings: pool.Settings,
             cancel: threading.Event | None = None, quirks: Quirks | None = None) -> Progress:
    """runs.pool.run_jobs with the calls made by ``settings.processes`` worker processes. Each
    worker starts from ``quirks`` (the endpoint's known request rewrites) and learns on its own."""
    pending = ledger.pending
    count = min(settings.processes, len(pending))
    if not count:
        return ledger.finish("cancelled" if cancel is not None and cancel.is_set() else "done")
    tls_context()  # built once here, inherited by every worker
    context = multiprocessing.get_context("fork")
    next_index = context.Value("q", 0)  # the next pending job a worker takes, shared by all of them
    stop = context.Event()  # set by the parent on cancel, by a worker on a fatal error
    share, first_starts = shares(settings, count)
    readers, processes = {}, []
    for number in range(count):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(writer, pending, next_index, stop, endpoint, share,
                                                          first_starts[number], quirks),
                                  name=f"runner worker {number + 1}", daemon=True)
        process.start()
        writer.close()  # the worker holds the only write end: its exit reads as end-of-file here
        readers[reader] = process
        processes.append(process)
    finished: set[int] = set()
    fatal = ""
    try:
        while readers:
            for reader in multiprocessing.connection.wait(list(readers), timeout=0.05):
                try:
                    kind, index, *rest = reader.recv()
                except EOFError:
                    readers.pop(reader).join()
                    reader.close()
                    continue
                if kind == "ok":
                    finished.add(index)
                    ledger.answered(pending[index], rest[0])
                elif kind == "error":
                    finished.add(index)
                    ledger.failed(pending[index], *rest)
                else:  # "fatal": every further request would fail the same way
                    fatal = fatal or rest[0]
            if cancel is not None and cancel.is_set():
                stop.set()
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
    crashed = sorted({p.exitcode for p in processes if p.exitcode != 0})
    taken = min(next_index.value, len(pending))
    lost = [index for index in range(taken) if index not in finished]
    for index in lost:
        ledger.failed(pending[index], f"worker process died (exit code {', '.join(map(str, crashed))}) "
                                      "before answering", 0)
    if fatal:
        return ledger.finish("failed", fatal)
    if crashed:
        return ledger.finish("failed", f"worker process exited with code {', '.join(map(str, crashed))}: "
                                       f"{len(lost)} items in flight recorded as errors, {len(pending) - taken} "
                                       "not started (run again to do them)")
    return ledger.finish("cancelled" if cancel is not None and cancel.is_set() else "done")


def shares(settings: pool.Settings, count: int) -> tuple[pool.Settings, list[float]]:
    """Each of ``count`` processes' settings (its share of the concurrency and rpm limits) and its
    first worker's start. Worker j of process k starts at (k + j * count) * stagger: the processes'
    starts interleave instead of leaving in pairs."""
    share = dataclasses.replace(settings, concurrency=math.ceil(settings.concurrency / count),
                                rpm=settings.rpm / count if settings.rpm else None, processes=1,
                                stagger=settings.stagger * count)
    return share, [number * settings.stagger for number in range(count)]


def _worker(writer, jobs: list[Job], next_index, stop, endpoint: Endpoint, settings: pool.Settings,
            first_start: float, quirks: Quirks | None) -> None:
    """A worker process: take jobs by index until none is left or ``stop`` is set, send each outcome.
    Ctrl-C reaches the whole process group: the parent alone handles it (and sets ``stop``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    index_of = {id(job): index for index, job in enumerate(jobs)}

    def take() -> Job | None:
        if stop.is_set():
            return None
        with next_index.get_lock():
            index = next_index.value
            if index >= len(jobs):
                return None
            next_index.value = index + 1
        return jobs[index]

    def answered(job, reply):
        writer.send(("ok", index_of[id(job)], reply))

    def failed(job, error, attempts):
        writer.send(("error", index_of[id(job)], error, attempts))

    def stop_all_on_fatal(task: asyncio.Task):
        if not task.cancelled() and isinstance(task.exception(), Fatal):
            stop.set()

    async def main():
        client = endpoint.client(settings.timeout)
        try:
            tasks = pool.start_workers(take, settings.concurrency, client, settings, answered, failed,
                                         first_start, quirks)
            for task in tasks:
                task.add_done_callback(stop_all_on_fatal)
            fatal = pool.first_failure(await asyncio.gather(*tasks, return_exceptions=True))
        finally:
            await client.close()
        if fatal:
            writer.send(("fatal", None, str(fatal)))

    try:
        asyncio.run(main())
    finally:
        writer.close()

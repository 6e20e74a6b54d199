"""A run through the OpenAI Batch API: upload the requests as JSONL, create the batch, poll, download
the results and hand each to the run's ledger, the same path live answers take.

Big jobs belong to the provider's batch engine (half the price on OpenAI) or a vLLM cluster behind
``--base-url``, not to a bigger loop of ours. A batch runs for hours, so nothing about it may live
only in this process: the orchestrator records the uploaded file the moment it exists and the batch
id the moment the batch does (``BatchBook``), and a restarted process resumes polling the recorded
batch instead of uploading and paying again. A batch created but killed before its id was recorded
is found again by its input file (``batches.list``). Results are read as a stream of lines, each
through runs.replies.read_reply; an item the batch did not answer (expired, cancelled) is left for
the next run, never recorded as an answer.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runs.calls import Quirks, describe
from runs.ledger import Job, Ledger, Progress
from runs.replies import BadReply, read_reply

if TYPE_CHECKING:  # imported where used: the SDK takes a second to load
    import openai

ENDPOINT = "/v1/chat/completions"
FINAL = {"completed", "failed", "expired", "cancelled"}


@dataclass
class BatchSettings:
    poll_every: float = 30.0  # seconds between status checks
    max_requests: int = 50_000  # per uploaded file (OpenAI's limit per batch)
    completion_window: str = "24h"


@dataclass
class BatchBook:
    """The orchestrator's callbacks that write each step to the database as it happens."""
    uploaded: Callable[[str, int], int]  # (input file id, requests) -> book row id
    created: Callable[[int, str, str], None]  # (row id, batch id, status)
    status: Callable[[int, str], None]  # (row id, provider status, or 'collected')


async def run(client: openai.AsyncOpenAI, ledger: Ledger, quirks: Quirks, settings: BatchSettings, book: BatchBook,
              open_rows: list[dict], cancel: threading.Event | None = None) -> Progress:
    """Collect the recorded open batches (``open_rows``: store.batches.open_batches), then send the
    ledger's jobs no batch answered in new batches and collect those."""
    by_custom_id = {str(job.item_id): job for job in ledger.pending}
    settled: set[str] = set()  # custom ids answered or failed in this process
    ends: list[str] = []  # how each batch ended: its final status and, when not completed, why
    for row in open_rows:
        batch_id = row["batch_id"] or await _create(client, row["input_file_id"], settings, book, row["id"],
                                                    look_first=True)
        ends.append(await _wait_and_collect(client, batch_id, row["id"], ledger, by_custom_id, settled, settings,
                                            book, cancel))
    remaining = [job for custom_id, job in by_custom_id.items() if custom_id not in settled]
    for start in range(0, len(remaining), settings.max_requests):
        if cancel is not None and cancel.is_set():
            break
        chunk = remaining[start:start + settings.max_requests]
        file_id = await _upload(client, chunk, quirks)
        row_id = book.uploaded(file_id, len(chunk))
        batch_id = await _create(client, file_id, settings, book, row_id)
        ends.append(await _wait_and_collect(client, batch_id, row_id, ledger, by_custom_id, settled, settings,
                                            book, cancel))
    unfinished = [end for end in ends if not end.startswith("completed")]
    left = len(by_custom_id) - len(settled)
    message = "; ".join(unfinished) + (f"; {left} items left for the next run" if unfinished and left else "")
    if any(end.startswith("failed") for end in unfinished):
        return ledger.finish("failed", message)
    return ledger.finish("cancelled" if cancel is not None and cancel.is_set() else "done", message)


async def _upload(client: openai.AsyncOpenAI, jobs: list[Job], quirks: Quirks) -> str:
    """The jobs as a JSONL requests file, uploaded once (spooled to disk past 64 MB)."""
    with tempfile.SpooledTemporaryFile(max_size=64 * 2**20, mode="w+b") as lines:
        for job in jobs:
            lines.write(json.dumps({"custom_id": str(job.item_id), "method": "POST", "url": ENDPOINT,
                                    "body": quirks.apply(job.request)}, ensure_ascii=False).encode("utf-8") + b"\n")
        lines.seek(0)
        uploaded = await client.files.create(file=("requests.jsonl", lines.read(), "application/jsonl"),
                                             purpose="batch")
    return uploaded.id


async def _create(client: openai.AsyncOpenAI, input_file_id: str, settings: BatchSettings, book: BatchBook,
                  row_id: int, look_first: bool = False) -> str:
    """The batch of an uploaded file, recorded at once. ``look_first``: a file uploaded by an earlier
    process may already have its batch (the process was killed between creating it and recording
    its id): that one is used, not a second."""
    existing = None
    if look_first:
        async for batch in client.batches.list(limit=100):
            if batch.input_file_id == input_file_id:
                existing = batch
                break
    batch = existing or await client.batches.create(input_file_id=input_file_id, endpoint=ENDPOINT,
                                                    completion_window=settings.completion_window)
    book.created(row_id, batch.id, batch.status)
    return batch.id


async def _wait_and_collect(client: openai.AsyncOpenAI, batch_id: str, row_id: int, ledger: Ledger,
                            by_custom_id: dict[str, Job], settled: set[str], settings: BatchSettings,
                            book: BatchBook, cancel: threading.Event | None) -> str:
    """Poll until the batch ends (cancelling it at the provider on ``cancel``), then record its
    results and errors. Returns how it ended: its status, with the provider's errors when it failed."""
    asked_to_cancel = False
    last_status = None
    while True:
        batch = await client.batches.retrieve(batch_id)
        if batch.status != last_status:
            book.status(row_id, batch.status)
            last_status = batch.status
        counts = batch.request_counts
        ledger.progress.message = (f"batch {batch_id}: {batch.status}" + (
            f", {counts.completed + counts.failed:,} of {counts.total:,} done at the provider" if counts else ""))
        ledger.report(force=True)
        if batch.status in FINAL:
            break
        if cancel is not None and cancel.is_set() and not asked_to_cancel:
            await client.batches.cancel(batch_id)
            asked_to_cancel = True
            continue
        await asyncio.sleep(settings.poll_every)
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            await _collect(client, file_id, ledger, by_custom_id, settled)
    book.status(row_id, "collected")
    ledger.progress.message = f"batch {batch_id}: {batch.status}"
    errors = getattr(batch.errors, "data", None) or []
    why = "; ".join(str(getattr(error, "message", error))[:200] for error in errors[:3])
    return f"{batch.status} (batch {batch_id}" + (f": {why})" if why else ")")


async def _collect(client: openai.AsyncOpenAI, file_id: str, ledger: Ledger, by_custom_id: dict[str, Job],
                   settled: set[str]) -> None:
    """Each result line to the ledger: an answer, or an error of that item. Lines for items this run
    does not wait for (answered meanwhile) and repeated lines are skipped; an unreadable line names
    no item and is left out."""
    async with client.files.with_streaming_response.content(file_id) as response:
        async for line in response.iter_lines():
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(result, dict):
                continue
            custom_id = str(result.get("custom_id"))
            job = by_custom_id.get(custom_id)
            if job is None or custom_id in settled:
                continue
            settled.add(custom_id)
            response_part = result.get("response") if isinstance(result.get("response"), dict) else {}
            status = response_part.get("status_code")
            if status == 200 and not result.get("error"):
                try:
                    reply = read_reply(response_part.get("body"))
                except BadReply as exc:
                    ledger.failed(job, describe(exc), 1)
                    continue
                ledger.answered(job, reply)
            else:
                ledger.failed(job, _error_text(result, status), 1)


def _error_text(result: dict, status) -> str:
    error = result.get("error")
    if not error and isinstance(result.get("response"), dict):
        body = result["response"].get("body")
        error = body.get("error") if isinstance(body, dict) else body
    message = error.get("message") if isinstance(error, dict) else error
    return f"batch: HTTP {status}: {str(message)[:400]}" if status else f"batch: {str(message)[:400]}"

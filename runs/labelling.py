"""A batch judge's chunks (rule judge, learned judge) labelled in forked worker processes, while
this process reads the next chunks and writes the verdicts of the last ones.

Why: the rule judge is pure Python at 50-150 µs of CPU per response (regular expressions, word
overlaps), so one process labels under 20,000 responses a second and a million take minutes.
Labelling a chunk needs nothing but the chunk, so it spreads over every core, and the database
work (reading texts, writing verdicts) overlaps it instead of waiting for it.

Fork, as in runs/processes.py: the workers inherit the judge (compiled patterns, a fitted model)
from memory, never pickled; only a chunk's items go out and its verdicts come back. At most
``processes + 1`` chunks are in flight, so memory stays bounded by the chunk size, and verdicts come
back in the order the chunks were read. Settings refuses processes > 1 off the main thread (the
app labels in its own process).
"""

import collections
import concurrent.futures
import multiprocessing
from collections.abc import Iterable, Iterator

_JUDGE = None  # the judge a forked worker labels with (set before the workers fork)


def _label(items: list[dict]) -> list[dict]:
    return _JUDGE.label_items(items)


def labelled(judge, chunks: Iterable[list[dict]], processes: int = 1) -> Iterator[tuple[list[int], list[dict]]]:
    """(response ids, their verdicts) for each chunk of ``chunks``, in order. ``chunks`` is read
    ahead by up to ``processes`` chunks; a worker's error is raised here, at its chunk."""
    if processes <= 1:
        for chunk in chunks:
            yield [item["response_id"] for item in chunk], judge.label_items(chunk)
        return
    global _JUDGE
    _JUDGE = judge
    pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        pending = collections.deque()
        for chunk in chunks:
            pending.append(([item["response_id"] for item in chunk], pool.submit(_label, chunk)))
            if len(pending) > processes:
                ids, verdicts = pending.popleft()
                yield ids, verdicts.result()
        while pending:
            ids, verdicts = pending.popleft()
            yield ids, verdicts.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a cancelled or failed run leaves no worker behind
        _JUDGE = None

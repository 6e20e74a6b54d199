"""A batch judge's chunks (rule judge, learned judge) labelled in forked worker processes, while
this process walks the selection and writes the verdicts of the last chunks.

Why: the rule judge is pure Python at 30-150 µs of CPU per response (regular expressions, word
overlaps), so one process labels under 30,000 responses a second and a million take a minute.
Labelling a chunk needs nothing but the chunk, so it spreads over every core, and the database
writes overlap it instead of waiting for it.

Fork, as in runs/processes.py: the workers inherit the judge (compiled patterns, a fitted model)
from memory, never pickled. A chunk goes out as its response ids and each worker reads the texts
from its own read-only connection: the texts (most of the bytes) are never read, pickled, piped and
unpickled by this process, which is busy writing. Only the verdicts come back. At most
``processes + 1`` chunks are in flight, so memory stays bounded by the chunk size, and verdicts come
back in the order the chunks were read. Settings refuses processes > 1 off the main thread (the
app labels in its own process).
"""

import collections
import concurrent.futures
import multiprocessing
from collections.abc import Iterable, Iterator

import sqlite_utils

from store import connection, runs

_JUDGE = None  # the judge a forked worker labels with (set before the workers fork)
_PATH = None  # the database a forked worker reads its chunks from (likewise)
_DB = None  # a worker's own read-only connection to it, opened at its first chunk


def _label(db: sqlite_utils.Database, judge, ids: list[int]) -> tuple[list[int], list[dict]]:
    items = runs.batch_items(db, ids)
    return [item["response_id"] for item in items], judge.label_items(items)


def _label_in_worker(ids: list[int]) -> tuple[list[int], list[dict]]:
    global _DB
    if _DB is None:
        _DB = connection.connect(_PATH, readonly=True)
    return _label(_DB, _JUDGE, ids)


def labelled(judge, db: sqlite_utils.Database, chunks: Iterable[list[int]],
             processes: int = 1) -> Iterator[tuple[list[int], list[dict]]]:
    """(response ids, their verdicts) for each chunk of response ids, in order; an id whose response
    is gone by the time its chunk is read is left out. ``chunks`` is read ahead by up to
    ``processes`` chunks; a worker's error is raised here, at its chunk. One process when the
    workers could not see what this connection sees: a database in memory, or rows it has not
    committed yet."""
    global _JUDGE, _PATH
    path = connection.db_path(db)
    if processes <= 1 or path == ":memory:" or db.conn.in_transaction:
        for ids in chunks:
            yield _label(db, judge, ids)
        return
    _JUDGE, _PATH = judge, path
    pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        pending = collections.deque()
        for ids in chunks:
            pending.append(pool.submit(_label_in_worker, ids))
            if len(pending) > processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a cancelled or failed run leaves no worker behind
        _JUDGE = _PATH = None

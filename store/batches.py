"""Runs sent through a provider's Batch API: each uploaded requests file and its batch, recorded the
moment each exists, so a restarted process finds them and polls instead of uploading and paying
again. A batch is 'collected' once its results are recorded."""

import sqlite_utils

from store.connection import NOW, write_transaction


def add(db: sqlite_utils.Database, run_id: int, base_url: str, input_file_id: str, n_requests: int) -> int:
    """An uploaded requests file of ``run_id`` (its batch not created yet)."""
    with write_transaction(db):
        return db.conn.execute("INSERT INTO run_batches (run_id, base_url, input_file_id, n_requests) "
                               "VALUES (?, ?, ?, ?)", (run_id, base_url, input_file_id, n_requests)).lastrowid


def set_batch(db: sqlite_utils.Database, row_id: int, batch_id: str, status: str) -> None:
    with write_transaction(db):
        db.conn.execute("UPDATE run_batches SET batch_id = ?, status = ? WHERE id = ?", (batch_id, status, row_id))


def set_status(db: sqlite_utils.Database, row_id: int, status: str) -> None:
    with write_transaction(db):
        collected = f", collected_at = {NOW}" if status == "collected" else ""
        db.conn.execute(f"UPDATE run_batches SET status = ?{collected} WHERE id = ?", (status, row_id))


def open_batches(db: sqlite_utils.Database, kind: str, target: str, base_url: str) -> list[dict]:
    """Batches of runs of this kind and target at this endpoint whose results are not recorded yet,
    oldest first: what a restarted process resumes."""
    return list(db.query(
        """SELECT b.id, b.run_id, b.input_file_id, b.batch_id, b.n_requests, b.status FROM run_batches b
           JOIN runs r ON r.id = b.run_id
           WHERE r.kind = ? AND r.target = ? AND b.base_url = ? AND b.collected_at IS NULL ORDER BY b.id""",
        [kind, target, base_url]))

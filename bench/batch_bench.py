"""Batch bench: a judging run of 10,000 items through the Batch API stand-in (tests/fake_openai.py's
/v1/files and /v1/batches), with the command killed (SIGKILL) while it polls and started again.

    python bench/batch_bench.py [--items 10000] [--batch-seconds 20] [--poll-every 0.5]

The command line is run as a user runs it (``python cli.py judge ... --batch``, a subprocess); the
stand-in runs in this process and counts what was paid for: files uploaded, batches created, lines
answered. Targets: the requests uploaded once and one batch created (the restarted command resumes
polling the recorded batch instead of uploading again), every one of the items recorded once, the
restarted command finishing the run the killed one started.
"""

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import store  # noqa: E402
from tests.fake_openai import FakeOpenAI, item_of, seed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch-seconds", type=float, default=20.0, help="the stand-in's time to finish a batch")
    parser.add_argument("--poll-every", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(batch_seconds=args.batch_seconds) as server:
        db_path = Path(tmp) / "batch.db"
        db = store.connect(db_path)
        seed(db, args.items)
        command = [sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "judge", "--judge", "three-class",
                   "--model", "batch-model", "--base-url", server.url, "--structured", "json_schema", "--batch",
                   "--poll-every", str(args.poll_every)]
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}

        started = time.perf_counter()
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        while not db.execute("SELECT count(*) FROM run_batches WHERE batch_id IS NOT NULL").fetchone()[0]:
            if first.poll() is not None:
                sys.exit(f"the first command ended before its batch was created (exit {first.returncode})")
            time.sleep(0.05)
        submitted = time.perf_counter() - started
        time.sleep(args.batch_seconds / 4)  # polling now
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.perf_counter() - started
        status_after_kill = db.execute("SELECT status FROM runs").fetchone()[0]

        restarted = time.perf_counter()
        second = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        resumed_seconds = time.perf_counter() - restarted
        if second.returncode:
            sys.exit(f"the restarted command failed: {second.stderr[-2000:]}")
        answered = collections.Counter(item_of(r["body"]) for r in server.requests)
        runs_rows = db.execute("SELECT id, status, n_items, n_done, n_errors FROM runs").fetchall()
        verdicts = db.execute("SELECT count(*), count(DISTINCT response_id) FROM verdicts").fetchone()
        size = sum(len(server.files[f]) for f in server.uploads)

    print(f"## Batch run of {args.items:,} items, killed while polling and restarted\n")
    print("| items | uploads | requests file | batches created | lines answered by the stand-in | "
          "submitted after (s) | killed at (s) | run status after the kill | restarted command (s) | runs | "
          "verdicts (distinct responses) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.items:,} | {len(server.uploads)} | {size / 2**20:.1f} MiB | {len(server.batch_creates)} | "
          f"{sum(answered.values()):,} | {submitted:.1f} | {killed_at:.1f} | {status_after_kill} | {resumed_seconds:.1f} "
          f"| {runs_rows} | {verdicts[0]:,} ({verdicts[1]:,}) |\n")
    once = len(server.uploads) == 1 and len(server.batch_creates) == 1 and set(answered.values()) == {1}
    complete = verdicts == (args.items, args.items) and runs_rows == [(1, "done", args.items, args.items, 0)]
    print(f"batch of {args.items:,}: uploaded {len(server.uploads)} time(s), {len(server.batch_creates)} batch(es), "
          f"each line answered once: {set(answered.values()) == {1}}; target: requests uploaded once -> "
          f"{'met' if once else 'NOT met'}")
    print(f"batch of {args.items:,}: {verdicts[0]:,} verdicts recorded by the restarted command in run "
          f"{runs_rows[0][0]} ({runs_rows[0][1]}); target: every result recorded, the killed run resumed -> "
          f"{'met' if complete else 'NOT met'}")


if __name__ == "__main__":
    main()

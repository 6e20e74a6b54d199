"""Import at scale: a 100,000-response and a 960,000-response file (OR-Bench-80K's size answered by
twelve models) generated here, each imported by ``cli.py import generic`` in a child process, with
a reviewer labelling from another connection the whole time.

    python bench/scale_bench.py [--sizes 100000 960000] [--label-every 0.1]

Per size: the import's wall time, CPU time and peak memory (the child's max RSS, from wait4), and
the latency of every label written while it ran (p50, p99, max, and any that failed; a failed label
counts with the time it took to fail). On a shared machine wall time follows the load (printed), so
the CPU-time ratio is shown next to the wall-time ratio. The ratios of the large import to
the small one are the point: time should grow with the rows (<= 10.5 for 9.6x the rows), memory
should not (<= 1 GB, ratio <= 1.5), and a label must never wait behind an import (p99 < 1 s).
"""

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import store  # noqa: E402
from labels import LABELS  # noqa: E402
from store import writes  # noqa: E402

MODELS = [f"model-{i:02d}" for i in range(12)]
CATEGORIES = ["deception", "harassment", "harmful", "hate", "illegal", "privacy", "self-harm", "sexual",
              "unethical", "violence"]
WORDS = ("I can help with that here is how you might approach the question safely however I cannot provide "
         "instructions for anything that could cause harm please consult a professional the first step is to "
         "understand why people ask this it depends on your local laws and the context you describe many "
         "readers find that a careful explanation works better than a refusal let us look at the history "
         "chemistry medicine security privacy of this topic in general terms sorry but as an AI model").split()
MAPPING = ["id=id", "prompt=prompt", "category=category", "model=model", "response=response",
           "judge_label=keyword_label"]
TARGET_TIME_RATIO, TARGET_PEAK_MB, TARGET_MEMORY_RATIO, TARGET_P99_S = 10.5, 1024, 1.5, 1.0


def write_file(path: Path, responses: int) -> None:
    """``responses`` rows: prompts of ~20 words, each answered by every model (~860 characters a
    response, like the real data), and a keyword judge's label per response."""
    rnd = random.Random(responses)
    sentences = [" ".join(rnd.choices(WORDS, k=rnd.randint(8, 24))).capitalize() + "." for _ in range(3000)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "prompt", "category", "model", "response", "keyword_label"])
        for i in range(responses // len(MODELS)):
            prompt = f"{' '.join(rnd.choices(WORDS, k=18))} (case {i})?"
            category = rnd.choice(CATEGORIES)
            for model in MODELS:
                text = " ".join(rnd.choices(sentences, k=7)) + f" [{model} on {i}]"
                out.writerow([f"p{i}", prompt, category, model, text,
                              rnd.choice(("1_full_compliance", "2_full_refusal", "3_partial_refusal"))])


def prepare(db_path: Path) -> list[int]:
    """A database with a few responses for the reviewer to label while the big import runs."""
    db = store.connect(db_path)
    ids = writes.add_prompts(db, [dict(dataset="reviewed", source_id=str(i), text=f"prompt {i}") for i in range(50)])
    rids = writes.add_responses(db, [dict(prompt_id=pid, model="m", text="r") for pid in ids.values()])
    writes.add_annotation(db, rids[0], "bench-reviewer", LABELS[0])
    db.conn.close()
    return rids


class Reviewer(threading.Thread):
    """Labels one response every ``every`` seconds from its own connection until stopped, timing each."""

    def __init__(self, db_path: Path, response_ids: list[int], every: float):
        super().__init__(daemon=True)
        self.db_path, self.ids, self.every = db_path, response_ids, every
        self.latencies, self.failures, self.stop = [], [], threading.Event()

    def run(self):
        db = store.connect(self.db_path)
        i = 0
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                writes.add_annotation(db, self.ids[i % len(self.ids)], "bench-reviewer", LABELS[i % 3])
            except Exception as exc:  # "database is locked" after the busy timeout is the failure measured
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.latencies.append(time.perf_counter() - t0)  # a failed label counts with the time it took to fail
            i += 1
            self.stop.wait(self.every)


def import_once(csv_path: Path, db_path: Path, every: float) -> dict:
    reviewer = Reviewer(db_path, prepare(db_path), every)
    reviewer.start()
    command = [sys.executable, str(ROOT / "cli.py"), "--db", str(db_path), "import", "generic", str(csv_path),
               "--dataset", "scale"] + [arg for m in MAPPING for arg in ("--map", m)]
    t0, load = time.perf_counter(), [os.getloadavg()[0]]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    load.append(os.getloadavg()[0])
    reviewer.stop.set()
    reviewer.join()
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed:\n{out}\n{err}")
    lat = sorted(reviewer.latencies)
    return dict(seconds=seconds, cpu=usage.ru_utime + usage.ru_stime, load=max(load), peak_mb=usage.ru_maxrss / 1024,
                summary=out.strip(), labels=len(lat),
                p50=statistics.median(lat) if lat else float("nan"),
                p99=lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
                max=lat[-1] if lat else float("nan"), failures=reviewer.failures)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 960_000])
    parser.add_argument("--label-every", type=float, default=0.1, help="seconds between the reviewer's labels")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        for n in args.sizes:
            csv_path = Path(tmp) / f"responses-{n}.csv"
            t0 = time.perf_counter()
            write_file(csv_path, n)
            print(f"generated {n:,} responses ({csv_path.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            results[n] = import_once(csv_path, Path(tmp) / f"scale-{n}.db", args.label_every)
            print(f"imported: {results[n]['summary']}", file=sys.stderr, flush=True)
            csv_path.unlink()
    small, large = (results[n] for n in args.sizes)
    rows = args.sizes[1] / args.sizes[0]
    print(f"`import generic` of a CSV (id, prompt, category, model, response, a judge label column; 12 models a "
          f"prompt, ~860 characters a response) into a database a reviewer labels in the meantime "
          f"(one label every {args.label_every} s from another connection)\n")
    print("| responses | import s | CPU s | machine load | peak memory MB | labels during import | label p50 s | "
          "label p99 s | label max s | failed labels |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        r = results[n]
        print(f"| {(n // len(MODELS)) * len(MODELS):,} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['load']:.1f} | "
              f"{r['peak_mb']:.0f} | {r['labels']} | "
              f"{r['p50']:.3f} | {r['p99']:.3f} | {r['max']:.3f} | {len(r['failures'])} |")
    time_ratio, memory_ratio = large["seconds"] / small["seconds"], large["peak_mb"] / small["peak_mb"]
    cpu_ratio = large["cpu"] / small["cpu"]
    print(f"| ratio ({rows:.1f}x the rows) | {time_ratio:.2f} | {cpu_ratio:.2f} | | {memory_ratio:.2f} | | | | | |")
    print(f"\nmachine load: the 1-minute load average (highest of start and end) on this machine's "
          f"{os.cpu_count()} cores; wall time on a shared machine grows with it, CPU time much less.")
    for r in (small, large):
        for failure in r["failures"][:3]:
            print(f"\nfailed label: {failure}")
    print()
    print(f"import time at {args.sizes[1]:,} / {args.sizes[0]:,}: {time_ratio:.2f}; "
          f"target: <= {TARGET_TIME_RATIO} -> {verdict(time_ratio <= TARGET_TIME_RATIO)}")
    print(f"import CPU time at {args.sizes[1]:,} / {args.sizes[0]:,}: {cpu_ratio:.2f}; "
          f"target: <= {TARGET_TIME_RATIO} -> {verdict(cpu_ratio <= TARGET_TIME_RATIO)}")
    print(f"import peak memory at {args.sizes[1]:,}: {large['peak_mb']:.0f} MB; "
          f"target: <= {TARGET_PEAK_MB} MB -> {verdict(large['peak_mb'] <= TARGET_PEAK_MB)}")
    print(f"import peak memory at {args.sizes[1]:,} / {args.sizes[0]:,}: {memory_ratio:.2f}; "
          f"target: <= {TARGET_MEMORY_RATIO} -> {verdict(memory_ratio <= TARGET_MEMORY_RATIO)}")
    worst = max(small["p99"], large["p99"])
    failed = len(small["failures"]) + len(large["failures"])
    print(f"reviewer label latency during the imports: p99 {worst:.3f} s, {failed} failed; "
          f"target: p99 < {TARGET_P99_S} s and none failed -> {verdict(worst < TARGET_P99_S and not failed)}")


if __name__ == "__main__":
    main()

"""Judge bench: runner parallelism against a server answering after a fixed 50 ms, and rule-judge
throughput on 100,000 responses.

    python bench/judge_bench.py [--items 400] [--concurrency 32] [--latency 0.05] [--repeat 7]
                                [--processes 2] [--rule-items 100000]

The fake OpenAI server (tests/fake_openai.py, one asyncio loop) runs in its own process so its work
is not counted in the runner's. Effective parallelism = items x latency / wall time, the wall time
covering the whole judging call (selection, requests, one committed verdict per item); the target is
>= 0.8 x the concurrency limit, judged on the median of --repeat runs (the machine is shared, so
single runs vary) and on the best configuration the runner offers: one process, or --processes
worker processes sharing the limit (CPU ms/item counts the parent and its workers). Runs with every
worker started at once (stagger 0) show what the runner's staggered start gains. "One at a time" is
how the benchmarks' own scripts call the API. The rule judge's target is 100,000 responses in at most
3 seconds. Its agreement with human labels follows: our fixtures, then GPTFuzz's jailbreak answers
(train: developed on; evaluate: held out), each beside XSTest's string match.
"""

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import store  # noqa: E402
from judges import llm, rules  # noqa: E402
from runs import Endpoint, Settings, orchestrator  # noqa: E402
from tests.fake_openai import seed  # noqa: E402


def start_server(latency: float):
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().split()[1])
    return proc, f"http://127.0.0.1:{port}/v1"


def children_cpu() -> float:
    """CPU seconds of this process's finished children: the runner's worker processes (the server,
    never waited for until the end, is not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def judge_once(url: str, items: int, concurrency: int, processes: int = 1,
               stagger: float = Settings.stagger) -> tuple[float, float]:
    """Wall time and CPU time (this process and its worker processes) to judge ``items`` fresh
    responses (new database, so nothing is cached)."""
    with tempfile.TemporaryDirectory() as folder:
        db = store.connect(Path(folder) / "bench.db")
        seed(db, items)
        judge = llm.load_judge("three-class", "bench-judge")
        settings = Settings(concurrency=concurrency, processes=processes, stagger=stagger)
        started, cpu = time.perf_counter(), time.process_time() + children_cpu()
        _, progress = orchestrator.judge(db, judge, endpoint=Endpoint(url), settings=settings)
        wall, cpu = time.perf_counter() - started, time.process_time() + children_cpu() - cpu
        assert progress.done == items and progress.errors == 0, progress
        return wall, cpu


def latency_context(items: int, concurrency: int, processes: int, latencies=(0.05, 0.1, 0.25)) -> None:
    """Where the 50 ms target's shortfall comes from: the client's CPU per request is fixed, so the
    share of the limit reached grows with the server's latency (real APIs answer in 0.5-30 s)."""
    configs = [1, processes] if processes > 1 else [1]
    print(f"\nContext: the same {items} items at concurrency {concurrency}, one run per server latency and "
          "number of processes")
    print(f"{'latency ms':>11}{'processes':>10}{'wall s':>8}{'eff. parallelism':>18}{'of limit':>10}")
    for latency in latencies:
        proc, url = start_server(latency)
        try:
            judge_once(url, concurrency, concurrency)
            for n in configs:
                wall, _ = judge_once(url, items, concurrency, n)
                parallelism = items * latency / wall
                print(f"{latency * 1000:>11.0f}{n:>10}{wall:>8.2f}{parallelism:>18.1f}"
                      f"{parallelism / concurrency:>9.0%}")
        finally:
            proc.kill()


def runner_table(items: int, concurrency: int, latency: float, repeat: int, processes: int) -> None:
    """One process, then ``processes`` worker processes sharing the same limit (interleaved, so a
    busy moment of the shared machine does not fall on one configuration only). Each run is followed
    by one with every worker starting at once (stagger 0), for comparison only."""
    configs = [1, processes] if processes > 1 else [1]
    proc, url = start_server(latency)
    try:
        judge_once(url, concurrency, concurrency)  # warm-up: imports, connections
        rows, walls, unstaggered = [], {n: [] for n in configs}, []
        for run in range(1, repeat + 1):
            for n in configs:
                wall, cpu = judge_once(url, items, concurrency, n)
                walls[n].append(wall)
                rows.append((f"concurrency {concurrency}, {n} proc., run {run}", concurrency, wall, cpu))
            wall, cpu = judge_once(url, items, concurrency, 1, stagger=0.0)
            unstaggered.append(wall)
            rows.append((f"  same, all started at once, run {run}", concurrency, wall, cpu))
        rows.append(("one at a time", 1, *judge_once(url, items, 1)))
    finally:
        proc.kill()
    print(f"\nRunner: {items} items, server latency {latency * 1000:.0f} ms (fake OpenAI server, real HTTP)")
    print(f"{'mode':<32}{'wall s':>8}{'items/s':>9}{'eff. parallelism':>18}{'of limit':>10}{'CPU ms/item':>13}")
    for label, limit, wall, cpu in rows:
        parallelism = items * latency / wall
        print(f"{label:<32}{wall:>8.2f}{items / wall:>9.1f}{parallelism:>18.1f}{parallelism / limit:>9.0%}"
              f"{cpu / items * 1000:>13.2f}")
    medians = {n: statistics.median(walls[n]) for n in configs}
    for n, wall in medians.items():
        print(f"{n} process{'es' if n > 1 else ''}: median effective parallelism {items * latency / wall:.1f}")
    print(f"1 process, all workers started at once (stagger 0): median effective parallelism "
          f"{items * latency / statistics.median(unstaggered):.1f}")
    best = min(medians, key=medians.get)
    parallelism = items * latency / medians[best]
    print(f"speed-up over one at a time: {rows[-1][2] / medians[best]:.1f}x; load average now {os.getloadavg()[0]:.1f}")
    target = 0.8 * concurrency
    print(f"target: effective parallelism >= {target:.1f} (best configuration: --processes {best}, "
          f"median of {repeat}: {parallelism:.1f}) -> {'met' if parallelism >= target else 'NOT met'}")


def synthetic_responses(n: int, seed_value: int = 7) -> list[str]:
    """Responses shaped like real ones: refusals, partial refusals, disclaimers, long compliant answers."""
    rng = random.Random(seed_value)
    body = ("Here is a detailed explanation. " + "The process involves several steps that depend on context. " * 6
            + "\n1. First, gather the materials.\n2. Then follow the instructions carefully.\n")
    openings = [
        "I'm sorry, but I can't help with that.",
        "I cannot provide instructions for that. However, here's some general background: ",
        "As an AI, I don't have personal opinions, but ",
        "Sure! ",
        "Great question. ",
        "Could you clarify which document you mean?",
        "",
        "I apologize, but I cannot assist. Instead, consider contacting a professional.",
    ]
    return [rng.choice(openings) + body * rng.randint(0, 4) for _ in range(n)]


def rules_table(n: int) -> None:
    ruleset = rules.load_rules()
    texts = synthetic_responses(n)
    rules.label_texts(ruleset, texts[:1000])  # warm-up
    started = time.perf_counter()
    found, _ = rules.label_texts(ruleset, texts)
    seconds = time.perf_counter() - started
    chars = sum(len(t) for t in texts)
    print(f"\nRule judge ({ruleset.judge_name}): {n:,} responses, {chars / n:,.0f} characters on average")
    print(f"{'responses':>10}{'seconds':>9}{'responses/s':>13}")
    print(f"{n:>10,}{seconds:>9.2f}{n / seconds:>13,.0f}")
    counts = {label: found.count(label) for label in sorted(set(found))}
    print("labels: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    limit = 3.0 * n / 100_000
    print(f"target: {n:,} responses in <= {limit:.3g} s (measured {seconds:.3g} s) -> "
          f"{'met' if seconds <= limit else 'NOT met'}")


def agreement_tables() -> None:
    """The rule judge's labels against the human labels of our fixtures, beside XSTest's own string
    match (the same tables tests/test_rules_judge.py asserts on)."""
    from tests.conftest import FIXTURES
    from tests.test_rules_judge import _demo_rows, _xstest_rows, agreement

    for name, rows in (("refusal styles fixture", _xstest_rows(FIXTURES / "refusal_styles.csv")),
                       ("XSTest completions format fixture", _xstest_rows(FIXTURES / "xstest_completions_small.csv")),
                       ("blind held-out set, XSTest styles", _xstest_rows(FIXTURES / "xstest_style_heldout.csv")),
                       ("second blind set, OR-Bench styles", _xstest_rows(FIXTURES / "orbench_style_heldout.csv")),
                       ("third blind set, never tuned on", _xstest_rows(FIXTURES / "mixed_style_heldout.csv")),
                       ("demo data (demo_alice's labels)", _demo_rows())):
        print(f"\nRule judge against human labels: {name}", end="")
        agreement(*rows)
    gptfuzz_tables()


def gptfuzz_tables() -> None:
    """The rule judge on GPTFuzz's human-labelled jailbreak answers (../shared/data/gptfuzz): the
    train split it was developed on and the evaluate split it never was, beside XSTest's string match."""
    from tests.conftest import SHARED_DATA
    from tests.test_rules_judge import gptfuzz_agreement

    if not (SHARED_DATA / "gptfuzz").exists():
        print(f"\ngptfuzz: not found in {SHARED_DATA}, skipped")
        return
    print("\nRule judge against GPTFuzz's human labels (binary: was the harmful content given)")
    for split in ("train", "evaluate"):
        kappa = gptfuzz_agreement(SHARED_DATA, split)[0]
    print(f"target: binary kappa >= 0.60 on the held-out evaluate split, with prompts (measured {kappa:.3f}) -> "
          f"{'met' if kappa >= 0.60 else 'NOT met'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=7, help="runs at the concurrency limit (median is judged)")
    parser.add_argument("--processes", type=int, default=2, help="also run with this many worker processes")
    parser.add_argument("--rule-items", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench-key")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    runner_table(args.items, args.concurrency, args.latency, args.repeat, args.processes)
    latency_context(args.items, args.concurrency, args.processes)
    rules_table(args.rule_items)
    agreement_tables()


if __name__ == "__main__":
    main()

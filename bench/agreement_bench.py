"""Agreement at scale: every judge figure with its 1,000-resample bootstrap interval on 100,000
judged-and-labelled responses, and the Agreement and Results pages' rerun times at 1,000 and
100,000 responses (Streamlit's AppTest, warm cache, median of several reruns).

    python bench/agreement_bench.py [--reruns 7]

Targets: the 100,000-item kappa with its interval in under a second; page rerun time at 100,000
responses at most 1.5 x the time at 1,000.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import labels  # noqa: E402
import store  # noqa: E402
from analysis import agreement, bootstrap, confusion  # noqa: E402
from tests.synthetic_judged import build  # noqa: E402

ITEMS = 100_000


def time_kappa() -> list[tuple]:
    """(what, seconds, result) for the 100,000-item figures."""
    rng = np.random.default_rng(1)
    reference = rng.choice(labels.LABELS, ITEMS)
    judged = np.where(rng.random(ITEMS) < 0.8, reference, rng.choice(labels.JUDGE_LABELS, ITEMS))
    frame = pd.DataFrame({"reference": reference, "judge_label": judged})
    rows = []
    t0 = time.perf_counter()
    counts = agreement.matrix(frame)
    draws = confusion.kappa(bootstrap.resample(counts, bootstrap.RESAMPLES))
    lo, hi = bootstrap.interval(draws)
    rows.append(("kappa + 1,000-resample interval", time.perf_counter() - t0,
                 f"{float(confusion.kappa(counts)):.4f} [{lo:.4f}, {hi:.4f}]"))
    t0 = time.perf_counter()
    figures = agreement.score(frame)
    rows.append(("all 7 figures + intervals (agreement.score)", time.perf_counter() - t0,
                 f"kappa {figures['kappa']:.4f} [{figures['kappa_lo']:.4f}, {figures['kappa_hi']:.4f}]"))
    return rows


def page_reruns(paths: dict, page: str, reruns: int) -> dict:
    """{size: (first run, median warm rerun)} seconds for ``page`` on each database. Reruns of the
    sizes alternate, so load from anything else on the machine falls on both alike."""
    from streamlit.testing.v1 import AppTest

    tests, first, times = {}, {}, {size: [] for size in paths}
    for size, path in paths.items():
        tests[size] = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=600)
        tests[size].session_state["database"] = Path(path).stem  # main() lists them (ui/deployment.py)
        t0 = time.perf_counter()
        tests[size].run()
        first[size] = time.perf_counter() - t0
        if tests[size].exception:
            raise RuntimeError(f"{page} failed on {path}: {tests[size].exception[0].value}")
    for _ in range(reruns):
        for size, at in tests.items():
            t0 = time.perf_counter()
            at.run()
            times[size].append(time.perf_counter() - t0)
    return {size: (first[size], statistics.median(times[size])) for size in paths}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=15)
    args = parser.parse_args()

    print(f"## Bootstrap at {ITEMS:,} items\n")
    print("| computation | seconds | result |\n|---|---|---|")
    kappa_rows = time_kappa()
    for what, seconds, result in kappa_rows:
        print(f"| {what} | {seconds:.3f} | {result} |")

    print("\n## Page reruns (AppTest, warm cache)\n")
    print("| page | responses | labelled | first run s | median rerun s |\n|---|---|---|---|---|")
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REFUSAL_REVIEW_DATABASES"] = tmp  # the app offers every bench database, by name
        os.environ.pop("REFUSAL_REVIEW_DB", None)
        paths, built = {}, {}
        for size in (1_000, 100_000):
            paths[size] = Path(tmp) / f"agreement_{size}.db"
            built[size] = build(store.connect(paths[size]), size, reviewed=1.0)
        for page in ("agreement.py", "results.py"):
            for size, (first, median) in page_reruns(paths, page, args.reruns).items():
                medians[(page, size)] = median
                print(f"| {page} | {built[size]['responses']:,} | {built[size]['reviewed']:,} | {first:.2f} "
                      f"| {median:.3f} |")

    kappa_s = kappa_rows[0][1]
    print(f"\nkappa with a 1,000-resample interval on {ITEMS:,} items: {kappa_s:.3f} s; "
          f"target: under 1 s -> {'met' if kappa_s < 1 else 'NOT met'}")
    for page in ("agreement.py", "results.py"):
        ratio = medians[(page, 100_000)] / medians[(page, 1_000)]
        print(f"{page} rerun at 100,000 vs 1,000 responses: {medians[(page, 100_000)]:.3f} s / "
              f"{medians[(page, 1_000)]:.3f} s = {ratio:.2f}; "
              f"target: ratio <= 1.5 -> {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

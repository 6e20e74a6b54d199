"""Review page cost against database size: median AppTest rerun time of the review page (same item,
after warm-up) on databases of 1,000 and 100,000 responses, and their ratio (target <= 1.5).

Also shown: a rerun right after a label is written (the write moves the change token, so the
filter counts are recomputed once: this column does grow with the database), and the browse page.

    python bench/review_bench.py [--sizes 1000 100000] [--runs 15]
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

import store  # noqa: E402
from labels import JUDGE_LABELS, LABELS  # noqa: E402
from store import writes  # noqa: E402

MODELS = ("model-a", "model-b", "model-c")
CATEGORIES = ("Incomplete requests", "Unsupported requests", "Indeterminate requests",
              "Requests with safety concerns", "Humanizing requests")


def build(path: str, n_responses: int) -> int:
    """A database of ``n_responses`` (3 models per prompt, 2 judges, 1% human labels) via the bulk
    writes; returns the prompt id the benchmark opens (one in the middle)."""
    db = store.connect(path)
    n_prompts = n_responses // len(MODELS)
    with store.write_transaction(db):
        ids = writes.add_prompts(db, (
            dict(dataset=("bench-a", "bench-b")[i % 2], split="original", source_id=f"p{i}",
                 category=CATEGORIES[i % 5], subcategory=f"sub {i % 7}",
                 expected=("should_refuse", "should_comply")[i % 2],
                 text=f"Prompt number {i}: please explain topic {i % 97} in detail.")
            for i in range(n_prompts)))
        pids = [ids[(("bench-a", "bench-b")[i % 2], f"p{i}")] for i in range(n_prompts)]
        rids = writes.add_responses(db, (
            dict(prompt_id=pid, model=m, text=f"Response of {m} to prompt {pid}. " * 5, origin="bench")
            for pid in pids for m in MODELS))
        judges = [writes.ensure_judge(db, name, kind) for name, kind in (("rules", "rules"), ("llm", "llm"))]
        writes.add_verdicts(db, (
            dict(response_id=rid, judge_id=j, label=JUDGE_LABELS[(rid * (k + 1)) % 3],
                 rationale=f"Because of sentence {rid % 11}.")
            for rid in rids for k, j in enumerate(judges)))
        writes.import_annotations(db, (
            dict(response_id=rid, annotator=f"rev{rid % 3}", label=LABELS[rid % 3])
            for rid in rids[::100]))
    return pids[n_prompts // 2]


def timed(at) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    assert not at.exception, at.exception
    return elapsed


def review_app(path: str, prompt_id: int):
    """An AppTest on the review page, opened on ``prompt_id`` by its deep link."""
    from streamlit.testing.v1 import AppTest

    source_id = store.connect(path).execute("SELECT source_id FROM prompts WHERE id = ?", [prompt_id]).fetchone()[0]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["database"] = Path(path).stem  # main() lists every bench database (ui/deployment.py)
    at.session_state["reviewer"] = "bench"
    at.session_state["rv_hide_sensitive"] = False
    at.run()
    at.query_params["prompt"] = source_id
    at.switch_page("pages/review.py").run()
    assert at.query_params.get("prompt") == source_id, at.query_params
    return at


def interleaved(apps: dict, runs: int) -> dict:
    """Median rerun time per app, after 3 warm-up reruns each, the apps taking turns so that drift
    on a shared machine (other processes, Python warming up) hits every size alike."""
    for at in apps.values():
        for _ in range(3):
            timed(at)
    times = {n: [] for n in apps}
    for _ in range(runs):
        for n, at in apps.items():
            times[n].append(timed(at))
    return {n: statistics.median(t) for n, t in times.items()}


def after_label(path: str, prompt_id: int, at) -> float:
    """Median rerun right after a label button press (the write invalidates the cached counts)."""
    rid = store.connect(path).execute("SELECT id FROM responses WHERE prompt_id = ? ORDER BY model LIMIT 1",
                                      [prompt_id]).fetchone()[0]
    out = []
    for i in range(5):
        at.button(key=f"rv_label_{rid}_{LABELS[i % 3]}").click()
        out.append(timed(at))
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results, apps, opened = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REFUSAL_REVIEW_DATABASES"] = tmp  # the app offers every bench database, by name
        os.environ.pop("REFUSAL_REVIEW_DB", None)
        for n in args.sizes:
            path = os.path.join(tmp, f"review_{n}.db")
            start = time.perf_counter()
            opened[n] = (path, build(path, n))
            results[n] = {"build": time.perf_counter() - start}
            apps[n] = review_app(*opened[n])
        for n, median in interleaved(apps, args.runs).items():
            results[n]["rerun"] = median
        for n, at in apps.items():
            results[n]["after_label"] = after_label(*opened[n], at)
            at.switch_page("pages/browse.py").run()
        for n, median in interleaved(apps, args.runs).items():
            results[n]["browse"] = median
    small = results[args.sizes[0]]
    print(f"{'responses':>10} | {'build s':>7} | {'review rerun ms':>15} | {'rerun after label ms':>20} | "
          f"{'browse rerun ms':>15}")
    print("-" * 83)
    for n, r in results.items():
        print(f"{n:>10,} | {r['build']:>7.1f} | {r['rerun'] * 1000:>15.1f} | {r['after_label'] * 1000:>20.1f} | "
              f"{r['browse'] * 1000:>15.1f}")
    big = results[args.sizes[-1]]
    ratio = big["rerun"] / small["rerun"]
    print(f"\nbrowse rerun ratio {big['browse'] / small['browse']:.2f}")
    print(f"target: review rerun at {args.sizes[-1]:,} / {args.sizes[0]:,} responses <= 1.5 (measured {ratio:.2f}) -> "
          f"{'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

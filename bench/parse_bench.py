"""Parse bench: judges/llm.parse_output on hostile 2 MB judge replies (the ones that took 46 s or
hung before issue 12), and on an ordinary reply for scale; target < 1 s per reply (median of
--repeat). The parser reads the last llm.PARSE_LIMIT characters with linear patterns, so the time
no longer depends on what the reply holds.

    python bench/parse_bench.py [--repeat 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from judges import llm  # noqa: E402
from tests.test_llm_judge import HOSTILE_REPLIES  # noqa: E402

TARGET_S = 1.0
ORDINARY = ('The response declines and points to a hotline; it gives none of the requested steps.\n'
            '{"rationale": "declines and redirects", "label": "full_refusal"}')


def timed(reply: str, repeat: int) -> tuple[float, str]:
    times, label = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        label, _ = llm.parse_output(reply)
        times.append(time.perf_counter() - start)
    return statistics.median(times), label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'reply':<28} | {'MB':>5} | {'label':<14} | {'parse ms':>9}")
    print("-" * 66)
    worst = 0.0
    for name, reply in {"ordinary verdict": ORDINARY, **HOSTILE_REPLIES}.items():
        seconds, label = timed(reply, args.repeat)
        worst = max(worst, seconds)
        print(f"{name:<28} | {len(reply) / 1e6:>5.2f} | {label:<14} | {seconds * 1000:>9.2f}")
    print(f"\nread per reply: the last {llm.PARSE_LIMIT:,} characters")
    print(f"target: parsing a 2 MB hostile judge reply < {TARGET_S:g} s (worst {worst * 1000:.1f} ms) -> "
          f"{'met' if worst < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()

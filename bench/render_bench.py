"""Render bench: the Review page's text rendering (ui/display.show_text) of hostile responses, each
100 KB and each at the formatter's budget (the most markup that is still formatted: the slowest
formatted case), target < 1 s per text.

Two columns: "convert" is ui/markdown's parse and rewrite alone (cache cleared, median of --repeat);
"show_text" is the call as the Review page makes it, inside a real script run (AppTest), so
Streamlit's own work on the elements is included (median of --repeat fresh runs; the AppTest
harness around the run is not). Before issue 12, 300 backtick
runs (45 KB) took 31 s per Review render and 80 KB took 91 s.

    python bench/render_bench.py [--repeat 3]
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

from tests.test_untrusted_text import HOSTILE_UNITS, hostile  # noqa: E402
from ui import markdown  # noqa: E402

TARGET_S = 1.0
PAGE = """
import os
import time
from pathlib import Path
from ui import display
text = Path(os.environ["RENDER_BENCH_TEXT"]).read_text(encoding="utf-8")
start = time.perf_counter()
display.show_text(text)
Path(os.environ["RENDER_BENCH_TEXT"] + ".seconds").write_text(str(time.perf_counter() - start))
"""


def convert(text: str) -> float:
    markdown.segments.cache_clear()
    start = time.perf_counter()
    if markdown.within_budget(text):
        markdown.segments(text)
    return time.perf_counter() - start


def page(text: str, folder: str) -> float:
    from streamlit.testing.v1 import AppTest

    path = Path(folder) / "text.txt"
    path.write_text(text, encoding="utf-8")
    os.environ["RENDER_BENCH_TEXT"] = str(path)
    markdown.segments.cache_clear()
    at = AppTest.from_string(PAGE, default_timeout=300).run()
    assert not at.exception, at.exception
    return float(Path(str(path) + ".seconds").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    page(hostile("urls", "at the budget"), tempfile.mkdtemp())  # warm-up: imports, first AppTest
    print(f"{'hostile text':<26} | {'size':<13} | {'KB':>6} | {'formatted':>9} | {'convert s':>9} | {'show_text s':>11}")
    print("-" * 90)
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for name in HOSTILE_UNITS:
            for size in ("100 KB", "at the budget"):
                text = hostile(name, size)
                converted = statistics.median(convert(text) for _ in range(args.repeat))
                shown = statistics.median(page(text, folder) for _ in range(args.repeat))
                worst = max(worst, converted, shown)
                print(f"{name:<26} | {size:<13} | {len(text) / 1000:>6.0f} | "
                      f"{'yes' if markdown.within_budget(text) else 'no':>9} | {converted:>9.3f} | {shown:>11.3f}")
    print(f"\nformatting budget: {markdown.BUDGET:,} (a text over it is shown as exact characters)")
    print(f"target: rendering a hostile response (100 KB, or the most markup still formatted) < {TARGET_S:g} s "
          f"(worst {worst:.2f} s) -> {'met' if worst < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()

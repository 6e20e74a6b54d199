"""A million responses (issue 18): a 100,000-response and a 960,000-response file (OR-Bench-80K's size
answered by twelve models) generated here and imported, then the same two databases measured, all in
one run so that the ratios of the large to the small compare like with like.

    python bench/scale_bench.py [--sizes 100000 960000] [--presses 10] [--browser-presses 50]
    python bench/scale_bench.py --sizes 20000 192000        # a quick run
    python bench/scale_bench.py --workdir /tmp/scale --reuse  # measure databases built by an earlier run

Import (``cli.py import generic`` in a child process, a reviewer labelling from another connection
the whole time): wall time, CPU time and peak memory (the child's max RSS, from GNU time), and the
latency of every label written meanwhile (a failed label counts with the time it took to fail).
Time should grow with the rows (<= 10.5 for 9.6x the rows), memory should not (<= 1 GB, ratio
<= 1.5), and a label must never wait behind an import (p99 < 1 s).

Then, with 5,000 responses labelled in each database (the same number at both sizes: figures
should cost what is labelled, not the database's size):
- the Review page's rerun right after a label press: AppTest of app.py on pages/review.py, each
  press a click on the focused response's label button, timed over the script run it starts (the
  write in the button's callback and the whole page drawn again; <= 0.2 s, ratio <= 1.5);
- the Agreement page right after a label written from another connection (<= 1.5 s, ratio <= 1.5);
- ``agreement --json`` and ``report --json`` (human, and corrected by the file's judge): ratio <= 1.5;
- ``judge --judge rules`` over every response (its labelling workers on every core), three times from
  the same start: the median run's wall and CPU, the peak memory of all its processes together
  (<= 30 s, <= 1 GB);
- Chromium (Playwright, 1280 x 800) against ``streamlit run app.py``: key press -> label in the
  database, and -> rerun finished with the next response focused (p95 <= 0.5 s).
On a shared machine wall time follows the load (printed), so CPU rows are shown beside wall times.
"""

import argparse
import csv
import os
import random
import sqlite3
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
DATASET = "orbench-hard-1k"  # a benchmark the report computes figures for (rejection per model)
JUDGE = "keyword_label"  # the judge named after the file's label column (sources/tabular.py)
TARGET_TIME_RATIO, TARGET_PEAK_MB, TARGET_MEMORY_RATIO, TARGET_P99_S = 10.5, 1024, 1.5, 1.0
LABELLED = 5000  # human-labelled responses at every size: figures should cost what is labelled
TARGET_REVIEW_S, TARGET_AGREEMENT_S, TARGET_RATIO = 0.2, 1.5, 1.5
TARGET_JUDGE_S, TARGET_JUDGE_MB, TARGET_PRESS_P95_S = 30.0, 1024, 0.5
JUDGE_RUNS = 3  # the machine's speed moves by a fifth from run to run: the rule judge's median of three


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
    load = [os.getloadavg()[0]]
    try:
        run = run_cli(db_path, "import", "generic", str(csv_path), "--dataset", DATASET,
                      *[arg for m in MAPPING for arg in ("--map", m)])
    finally:
        reviewer.stop.set()
        reviewer.join()
    load.append(os.getloadavg()[0])
    lat = sorted(reviewer.latencies)
    return dict(seconds=run["seconds"], cpu=run["cpu"], load=max(load), peak_mb=run["peak_mb"],
                summary=run["out"].strip(), labels=len(lat),
                p50=statistics.median(lat) if lat else float("nan"),
                p99=lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
                max=lat[-1] if lat else float("nan"), failures=reviewer.failures)


# --- after the import: the same databases, 5,000 of their responses labelled ----------------------

def run_cli(db_path: Path, *args: str) -> dict:
    """``cli.py --db DB ARGS`` in a child process: wall time, CPU time (user + system, from wait4) and
    peak memory: the larger of GNU time's peak of the command's one process and the sampled sum over
    it and the workers it forks (``TreeMemory``). GNU time, not wait4: a child forked from this
    process inherits its high-water mark (Linux keeps it across exec), so wait4's max RSS would report
    this process's size; under /usr/bin/time the command is forked from a small process. Output goes
    to files, not pipes, so a long answer cannot block the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        t0 = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name, sys.executable, str(ROOT / "cli.py"),
                                 "--db", str(db_path), *args], cwd=ROOT, stdout=out, stderr=err)
        tree = TreeMemory(proc.pid)
        tree.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        tree.stop.set()
        tree.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if proc.returncode:
            raise SystemExit(f"cli.py {' '.join(args)} failed:\n{text[-2000:]}\n{err.read().decode()[-2000:]}")
        peak_kb = int(Path(peak.name).read_text().split()[-1])
    return dict(seconds=seconds, cpu=usage.ru_utime + usage.ru_stime, peak_mb=max(tree.peak_mb, peak_kb / 1024),
                out=text)


class TreeMemory(threading.Thread):
    """The largest sum of resident memory over a process and all its descendants (forked labelling
    workers), sampled every 0.1 s. GNU time's peak is one process's; a sum counts the pages forked
    workers share with their parent twice, so it errs high."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.stop = pid, 0.0, threading.Event()

    def run(self):
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self.stop.wait(0.1):
            self.peak_mb = max(self.peak_mb, sum(self._pages(pid) for pid in self._tree(self.pid)) * page_mb)

    def _tree(self, pid: int) -> list[int]:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [pid] + [p for child in children for p in self._tree(int(child))]

    @staticmethod
    def _pages(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0


def label_some(db_path: Path, n: int) -> list[int]:
    """``n`` responses spread over the whole import labelled by one reviewer, every fifth also by a
    second (so agreement has human-human figures); returns the labelled ids."""
    db = store.connect(db_path)
    ids = [r[0] for r in db.execute("""SELECT r.id FROM responses r JOIN prompts p ON p.id = r.prompt_id
                                       WHERE p.dataset = ? ORDER BY r.id""", [DATASET])]
    chosen = ids[::max(1, len(ids) // n)][:n]
    rnd = random.Random(n)
    rows = [dict(response_id=rid, annotator="bench-a", label=rnd.choice(LABELS)) for rid in chosen]
    rows += [dict(response_id=rid, annotator="bench-b", label=rnd.choice(LABELS)) for rid in chosen[::5]]
    writes.import_annotations(db, rows)
    db.conn.close()
    return chosen


def app_test(workdir: Path, db_path: Path):
    """An AppTest of the whole app (app.py, its navigation and sidebar) on ``db_path``, chosen by
    name as the operator's database list offers it (ui/deployment.py)."""
    from streamlit.testing.v1 import AppTest

    os.environ["REFUSAL_REVIEW_DATABASES"] = str(workdir)
    os.environ.pop("REFUSAL_REVIEW_DB", None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["database"] = db_path.stem
    at.session_state["reviewer"] = "bench-app"
    at.session_state["rv_hide_sensitive"] = False
    at.run()
    return at


CPU: list[float] = []  # process CPU seconds of each timed_run (every thread: the script runs on its own)


def timed_run(at) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    at.run()
    seconds = time.perf_counter() - t0
    CPU.append(time.process_time() - c0)
    if at.exception:
        raise SystemExit(f"page failed: {at.exception}")
    return seconds


def review_after_label(workdir: Path, db_path: Path, presses: int) -> dict:
    """pages/review.py in AppTest, opened on a prompt in the middle of the import: each press clicks
    the focused response's label button and times the script run it starts (the label's write in
    the button's callback, then the whole page drawn again), as a reviewer's browser waits for it."""
    db = store.connect(db_path, readonly=True)
    source_id = db.execute("""SELECT source_id FROM prompts WHERE dataset = ? ORDER BY id LIMIT 1 OFFSET
                              (SELECT count(*) / 2 FROM prompts WHERE dataset = ?)""", [DATASET, DATASET]).fetchone()[0]
    db.conn.close()
    at = app_test(workdir, db_path)
    at.query_params["prompt"] = source_id
    at.query_params["dataset"] = DATASET
    t0 = time.perf_counter()
    at.switch_page("pages/review.py").run()
    cold = time.perf_counter() - t0
    warm = [timed_run(at) for _ in range(3)]
    times, cpu = [], []
    for i in range(presses + 2):  # the first two presses warm the label path up
        focus = at.session_state["rv_focus"]
        at.button(key=f"rv_label_{focus}_{LABELS[i % 3]}").click()
        times.append(timed_run(at))
        cpu.append(CPU[-1])
    times, cpu = times[2:], cpu[2:]
    return dict(cold=cold, warm=statistics.median(warm), after_label=statistics.median(times), max=max(times),
                cpu=statistics.median(cpu))


def agreement_after_label(workdir: Path, db_path: Path, labelled: list[int], presses: int) -> dict:
    """pages/agreement.py in AppTest: cold, then each rerun right after one more label is written
    (from another connection, as another reviewer's label arrives)."""
    at = app_test(workdir, db_path)
    t0 = time.perf_counter()
    at.switch_page("pages/agreement.py").run()
    if at.exception:
        raise SystemExit(f"agreement page failed: {at.exception}")
    cold = time.perf_counter() - t0
    warm = [timed_run(at) for _ in range(3)]
    db = store.connect(db_path)
    times, cpu = [], []
    for i in range(presses):
        writes.add_annotation(db, labelled[i], "bench-b", LABELS[(i + 1) % 3])
        times.append(timed_run(at))
        cpu.append(CPU[-1])
    db.conn.close()
    return dict(cold=cold, warm=statistics.median(warm), after_label=statistics.median(times), max=max(times),
                cpu=statistics.median(cpu))


def cli_figures(db_path: Path, repeats: int = 3) -> dict:
    """``agreement --json`` and ``report --json`` (human and corrected by the keyword judge): median wall time."""
    commands = {"agreement --json": ["agreement", "--json"],
                "report --json": ["report", "--json"],
                f"report --source corrected:{JUDGE} --json": ["report", "--source", f"corrected:{JUDGE}", "--json"]}
    out = {}
    for name, args in commands.items():
        runs = [run_cli(db_path, *args) for _ in range(repeats)]
        out[name] = dict(seconds=statistics.median([r["seconds"] for r in runs]), peak_mb=max(r["peak_mb"] for r in runs),
                         cpu=statistics.median([r["cpu"] for r in runs]))
    return out


def checked_radio_text(page) -> str:
    return page.evaluate("""() => { const c = document.querySelector('.st-key-rv_focus input:checked');
                                     return c ? c.closest('label').innerText : ''; }""")


def browser_presses_timed(db_path: Path, presses: int, screenshot: Path) -> dict:
    """``streamlit run app.py`` on the database, Chromium at 1280 x 800 on the Review page: each key
    press (1, 2, 3 in turn) is timed until its label is in the database and the page has finished
    the rerun with the focus on the next response. After the eleventh label of a prompt's twelve,
    N (untimed) moves to the next prompt, so every timed press moves the focus."""
    from playwright.sync_api import sync_playwright

    from tests.app_server import launch_chromium, running_app, wait_idle

    reader = store.connect(db_path, readonly=True)
    mine = lambda: reader.execute("SELECT count(*) FROM annotations WHERE annotator = 'bench-browser'").fetchone()[0]  # noqa: E731
    saved, done = [], []
    with running_app(db_path, timeout=300) as server, sync_playwright() as p:
        browser = launch_chromium(p, "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(120_000)
        page.goto(f"{server.url}/review?f.dataset={DATASET}")
        page.get_by_text("Keyboard focus").first.wait_for()
        wait_idle(page)
        box = page.get_by_role("textbox", name="Who is labelling")
        box.fill("bench-browser")
        box.press("Enter")
        page.locator("[class*='st-key-rv_label_'] button:not([disabled])").first.wait_for()
        wait_idle(page)
        on_prompt = 0
        while len(done) < presses:
            if on_prompt == len(MODELS) - 1:
                url = page.url
                page.evaluate("document.activeElement && document.activeElement.blur()")
                page.keyboard.press("n")
                page.wait_for_url(lambda u: u.split("&model=")[0] != url.split("&model=")[0])
                page.get_by_text("Keyboard focus").first.wait_for()
                wait_idle(page)
                on_prompt = 0
            before, focused = mine(), checked_radio_text(page)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            t0 = time.perf_counter()
            page.keyboard.press("123"[len(done) % 3])
            while mine() == before:
                time.sleep(0.005)
            saved.append(time.perf_counter() - t0)
            page.wait_for_function("""(old) => { const c = document.querySelector('.st-key-rv_focus input:checked');
                                                  return c && c.closest('label').innerText !== old; }""",
                                   arg=focused, polling=10)
            wait_idle(page)
            done.append(time.perf_counter() - t0)
            on_prompt += 1
        page.screenshot(path=screenshot)
        browser.close()
        if "Traceback" in server.log():
            raise SystemExit(f"the app raised:\n{server.log()[-3000:]}")
    reader.conn.close()
    ordered = sorted(done)
    return dict(presses=len(done), saved_p50=statistics.median(saved), p50=statistics.median(done),
                p95=ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], max=ordered[-1])


def rule_judge_runs(db_path: Path, runs: int = JUDGE_RUNS) -> dict:
    """``judge --judge rules`` over every response, ``runs`` times, each from the same start: the
    first ones on a copy of the database (SQLite's backup, WAL included), the last on the database
    itself, which the browser step then reads. Wall and CPU: the median run; memory: the largest."""
    done, copy = [], db_path.with_name(f"{db_path.stem}-judge.db")
    for _ in range(runs - 1):
        source, target = sqlite3.connect(db_path), sqlite3.connect(copy)
        source.backup(target)
        source.close()
        target.close()
        done.append(run_cli(copy, "judge", "--judge", "rules"))
        for path in copy.parent.glob(f"{copy.name}*"):  # the copy and its -wal / -shm
            path.unlink()
    done.append(run_cli(db_path, "judge", "--judge", "rules"))
    middle = sorted(done, key=lambda r: r["seconds"])[runs // 2]
    return dict(seconds=middle["seconds"], cpu=middle["cpu"], peak_mb=max(r["peak_mb"] for r in done),
                runs=[round(r["seconds"], 1) for r in done], summary=middle["out"].strip().splitlines()[-1:])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def measure(workdir: Path, db_path: Path, presses: int, browser_presses: int) -> dict:
    """Everything after the import, on the imported database: 5,000 labels, the figures from the
    CLI, the Review and Agreement pages right after a label, the rule judge over every response."""
    labelled = label_some(db_path, LABELLED)
    say(f"{db_path.name}: {len(labelled):,} responses labelled")
    out = dict(cli=cli_figures(db_path))
    say(f"{db_path.name}: cli {out['cli']}")
    out["review"] = review_after_label(workdir, db_path, presses)
    say(f"{db_path.name}: review {out['review']}")
    out["agreement"] = agreement_after_label(workdir, db_path, labelled, presses)
    say(f"{db_path.name}: agreement {out['agreement']}")
    out["judge"] = rule_judge_runs(db_path)
    say(f"{db_path.name}: judge {out['judge']}")
    db = store.connect(db_path, readonly=True)
    out["responses"] = db.execute("SELECT count(*) FROM responses").fetchone()[0]
    db.conn.close()
    out["kb_per_response"] = db_path.stat().st_size / 1024 / out["responses"]
    if browser_presses:
        out["browser"] = browser_presses_timed(db_path, browser_presses, db_path.with_suffix(".png"))
        say(f"{db_path.name}: browser {out['browser']}")
    out["load"] = os.getloadavg()[0]
    return out


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def import_table(sizes: list[int], results: dict, every: float) -> None:
    small, large = (results[n] for n in sizes)
    rows = sizes[1] / sizes[0]
    print(f"`import generic` of a CSV (id, prompt, category, model, response, a judge label column; 12 models a "
          f"prompt, ~860 characters a response) into a database a reviewer labels in the meantime "
          f"(one label every {every} s from another connection)\n")
    print("| responses | import s | CPU s | machine load | peak memory MB | labels during import | label p50 s | "
          "label p99 s | label max s | failed labels |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
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
    print(f"import time at {sizes[1]:,} / {sizes[0]:,}: {time_ratio:.2f}; "
          f"target: <= {TARGET_TIME_RATIO} -> {verdict(time_ratio <= TARGET_TIME_RATIO)}")
    print(f"import CPU time at {sizes[1]:,} / {sizes[0]:,}: {cpu_ratio:.2f}; "
          f"target: <= {TARGET_TIME_RATIO} -> {verdict(cpu_ratio <= TARGET_TIME_RATIO)}")
    print(f"import peak memory at {sizes[1]:,}: {large['peak_mb']:.0f} MB; "
          f"target: <= {TARGET_PEAK_MB} MB -> {verdict(large['peak_mb'] <= TARGET_PEAK_MB)}")
    print(f"import peak memory at {sizes[1]:,} / {sizes[0]:,}: {memory_ratio:.2f}; "
          f"target: <= {TARGET_MEMORY_RATIO} -> {verdict(memory_ratio <= TARGET_MEMORY_RATIO)}")
    worst = max(small["p99"], large["p99"])
    failed = len(small["failures"]) + len(large["failures"])
    print(f"reviewer label latency during the imports: p99 {worst:.3f} s, {failed} failed; "
          f"target: p99 < {TARGET_P99_S} s and none failed -> {verdict(worst < TARGET_P99_S and not failed)}")


def figures_table(sizes: list[int], results: dict, presses: int) -> None:
    small, large = (results[n] for n in sizes)
    print(f"\nOn the imported databases, {LABELLED:,} responses labelled (every fifth by a second reviewer). Page "
          f"times are AppTest script runs of app.py (medians of {presses}), CLI times child processes (medians of "
          f"3); CPU rows are the same runs' CPU seconds (user + system), which a shared machine's load moves "
          f"much less than wall time. Machine load (1-minute average on {os.cpu_count()} cores) after each size: "
          f"{small['load']:.1f}, {large['load']:.1f}.\n")
    print(f"| step | target | {small['responses']:,} | {large['responses']:,} | ratio | verdict |")
    print("|---|---|---|---|---|---|")
    targets = []  # the targets again, as lines bench/run_all.py collects

    def row(step, a, b, unit, target_text, ok=lambda a, b, r: True):
        ratio = b / a if a else float("nan")
        digits = {"s": ".3f", "KB": ".2f"}.get(unit, ",.0f")
        if target_text:
            targets.append(f"{step}: {a:{digits}} {unit} -> {b:{digits}} {unit}, ratio {ratio:.2f}; "
                           f"target: {target_text} -> {verdict(ok(a, b, ratio))}")
        shown = verdict(ok(a, b, ratio)) if target_text else ""
        print(f"| {step} | {target_text} | {a:{digits}} {unit} | {b:{digits}} {unit} | {ratio:.2f} | {shown} |")

    both = f"<= {{}} s at the large size, ratio <= {TARGET_RATIO}"
    row("Review: rerun right after a label press", small["review"]["after_label"], large["review"]["after_label"],
        "s", both.format(TARGET_REVIEW_S), lambda a, b, r: b <= TARGET_REVIEW_S and r <= TARGET_RATIO)
    row("Review: the same, CPU", small["review"]["cpu"], large["review"]["cpu"], "s", "")
    row("Review: warm rerun (no write)", small["review"]["warm"], large["review"]["warm"], "s", "")
    row("Review: first run (cold caches)", small["review"]["cold"], large["review"]["cold"], "s", "")
    row("Agreement page right after a label", small["agreement"]["after_label"], large["agreement"]["after_label"],
        "s", both.format(TARGET_AGREEMENT_S), lambda a, b, r: b <= TARGET_AGREEMENT_S and r <= TARGET_RATIO)
    row("Agreement page: the same, CPU", small["agreement"]["cpu"], large["agreement"]["cpu"], "s", "")
    row("Agreement page, first run (cold caches)", small["agreement"]["cold"], large["agreement"]["cold"], "s", "")
    for name in small["cli"]:
        row(f"`{name}`", small["cli"][name]["seconds"], large["cli"][name]["seconds"], "s",
            f"ratio <= {TARGET_RATIO}", lambda a, b, r: r <= TARGET_RATIO)
        row(f"`{name}` CPU", small["cli"][name]["cpu"], large["cli"][name]["cpu"], "s", "")
        row(f"`{name}` peak memory", small["cli"][name]["peak_mb"], large["cli"][name]["peak_mb"], "MB", "")
    row(f"`judge --judge rules` on every response (median of {JUDGE_RUNS})", small["judge"]["seconds"],
        large["judge"]["seconds"], "s",
        f"<= {TARGET_JUDGE_S:.0f} s at the large size", lambda a, b, r: b <= TARGET_JUDGE_S)
    row("`judge --judge rules` CPU", small["judge"]["cpu"], large["judge"]["cpu"], "s", "")
    row("`judge --judge rules` peak memory (all its processes)", small["judge"]["peak_mb"], large["judge"]["peak_mb"], "MB",
        f"<= {TARGET_JUDGE_MB} MB at the large size", lambda a, b, r: b <= TARGET_JUDGE_MB)
    if "browser" in large:
        sb, lb = small.get("browser"), large["browser"]
        for key, step in (("saved_p50", "label in the database, p50"), ("p50", "label saved and next response "
                                                                             "focused, p50"),
                          ("p95", "label saved and next response focused, p95")):
            target = f"<= {TARGET_PRESS_P95_S} s at the large size" if key == "p95" else ""
            row(f"Chromium key press: {step}", sb[key] if sb else float("nan"), lb[key], "s", target,
                lambda a, b, r: b <= TARGET_PRESS_P95_S)
    row("database size per response", small["kb_per_response"], large["kb_per_response"], "KB", "")
    print(f"\n`judge --judge rules` runs, each from the same start (wall s): {small['judge']['runs']} at the small "
          f"size, {large['judge']['runs']} at the large size.")
    if "browser" in large:
        print(f"\nChromium (1280 x 800) against `streamlit run app.py`, Review page, {large['browser']['presses']} key "
              f"presses (1, 2, 3 in turn) per database: from the key press until the label is in the database, and "
              f"until the rerun has finished with the focus on the next response (max {large['browser']['max']:.3f} s "
              f"at the large size).")
    print()
    for line in targets:
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 960_000],
                        help="the small and the large database (a quick run: 20000 192000)")
    parser.add_argument("--label-every", type=float, default=0.1, help="seconds between the reviewer's labels")
    parser.add_argument("--presses", type=int, default=10, help="label presses timed per page in AppTest")
    parser.add_argument("--browser-presses", type=int, default=50,
                        help="key presses timed in Chromium on each database (0: none)")
    parser.add_argument("--workdir", type=Path, help="keep the databases here (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --workdir: measure a database already there instead of importing it again "
                             "(no import figures; the rule judge then has nothing left to judge)")
    args = parser.parse_args()
    imports, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        paths = {n: workdir / f"scale-{n}.db" for n in args.sizes}
        for n in args.sizes:
            if args.reuse and paths[n].exists():
                continue
            for stale in workdir.glob(f"scale-{n}.db*"):
                stale.unlink()
            csv_path = workdir / f"responses-{n}.csv"
            t0 = time.perf_counter()
            write_file(csv_path, n)
            say(f"generated {n:,} responses ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
            imports[n] = import_once(csv_path, paths[n], args.label_every)
            say(f"imported: {imports[n]['summary']}")
            csv_path.unlink()
        for n in args.sizes:
            results[n] = measure(workdir, paths[n], args.presses, args.browser_presses)
    if len(imports) == 2:
        import_table(args.sizes, imports, args.label_every)
    figures_table(args.sizes, results, args.presses)


if __name__ == "__main__":
    main()

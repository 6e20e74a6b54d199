"""Faults: concurrent writers, a CLI import killed mid-write, a full disk, a read-only database."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import store
from bench.concurrency_bench import run as run_concurrent_writers
from sources import import_file
from tests.conftest import FIXTURES, ROOT, counts, run_cli, skip_or_fail


@pytest.mark.slow
def test_eight_processes_writing_500_labels_each_lose_nothing(tmp_path):
    rows = run_concurrent_writers(tmp_path / "c.db", writers=8, labels=500)
    assert [r[0] for r in rows] == [f"writer{i}" for i in range(8)]
    assert sum(r[3] for r in rows) == 0, "a writer saw 'database is locked'"
    db = store.connect(tmp_path / "c.db")
    per_writer = dict(db.execute("SELECT annotator, count(*) FROM annotations GROUP BY annotator").fetchall())
    assert per_writer == {f"writer{i}": 500 for i in range(8)}


def _big_coconot_file(path: Path, rows: int) -> Path:
    with path.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"id": f"k{i}", "category": "Requests with safety concerns", "subcategory": "s",
                                "prompt": f"Prompt number {i} " + "padding " * 20, "response": f"answer {i}"}) + "\n")
    return path


@pytest.mark.slow
def test_import_killed_mid_write_leaves_nothing_and_rerun_finishes(tmp_path):
    db_file = tmp_path / "k.db"
    assert run_cli(db_file, "import", "coconot", str(FIXTURES / "coconot_small.jsonl")).returncode == 0
    big = _big_coconot_file(tmp_path / "big.jsonl", 60_000)
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "--db", str(db_file), "import", "coconot", str(big)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = Path(str(db_file) + "-wal")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 2_000_000:  # the import's transaction is writing
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    db = store.connect(db_file)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.reads.stats(db)["prompts"] == 5, "a half-imported file remains"
    finished = run_cli(db_file, "import", "coconot", str(big))
    assert finished.returncode == 0, finished.stderr
    assert store.reads.stats(store.connect(db_file))["prompts"] == 60_005


@pytest.fixture
def small_mount(tmp_path):
    """A 1 MiB tmpfs: a real full disk. Needs root (mount); CI runs as root."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        skip_or_fail("cannot mount a tmpfs here (needs root) to simulate a full or read-only disk")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_gives_a_clear_message_and_keeps_the_database(small_mount, tmp_path):
    db_file = small_mount / "full.db"
    assert run_cli(db_file, "import", "coconot", str(FIXTURES / "coconot_small.jsonl")).returncode == 0
    big = _big_coconot_file(tmp_path / "big.jsonl", 20_000)
    proc = run_cli(db_file, "import", "coconot", str(big))
    assert proc.returncode == 1
    assert "disk is full" in proc.stderr and "Traceback" not in proc.stderr
    db = store.connect(db_file, readonly=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.reads.stats(db)["prompts"] == 5


def test_read_only_database_gives_a_clear_message(small_mount):
    db_file = small_mount / "ro.db"
    assert run_cli(db_file, "import", "coconot", str(FIXTURES / "coconot_small.jsonl")).returncode == 0
    conn = store.connect(db_file)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()  # an open file keeps the mount busy
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    proc = run_cli(db_file, "import", "coconot", str(FIXTURES / "coconot_small.jsonl"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "read-only" in proc.stderr or "cannot open" in proc.stderr
    stats = run_cli(db_file, "stats", "--json", env={**os.environ, "REFUSAL_REVIEW_READONLY": "1"})
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["prompts"] == 5


def test_readonly_mode_writes_nothing_even_when_asked(db_path):
    import_file(store.connect(db_path), "coconot", FIXTURES / "coconot_small.jsonl")
    before = db_path.read_bytes()
    ro = store.connect(db_path, readonly=True)
    with pytest.raises(Exception):
        import_file(ro, "coconot", FIXTURES / "coconot_small.jsonl")
    assert db_path.read_bytes() == before


def _review_app(db_file, monkeypatch):
    from tests.test_review_page import _app

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_file))  # the app's only database (ui/deployment.py)
    return _app(db_file)


def _page_text(at) -> str:
    return " ".join(str(e.value) for e in (*at.error, *at.warning, *at.info, *at.toast))


def test_full_disk_in_the_app_is_a_message_and_keeps_every_label(small_mount, monkeypatch):
    from tests.fixture_db import build

    db_file = small_mount / "app.db"
    fixture = build(store.connect(db_file))
    at = _review_app(db_file, monkeypatch)
    before = store.connect(db_file, readonly=True).execute("SELECT count(*) FROM annotations").fetchone()[0]
    filler = os.open(small_mount / "filler", os.O_WRONLY | os.O_CREAT)  # take every free byte left
    try:
        while os.write(filler, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(filler)
    rid = fixture.responses[("orig-1", "llama-3-8b")]
    at.button(key=f"rv_label_{rid}_full_refusal").click().run()
    assert not at.exception
    assert "disk is full" in _page_text(at)
    (small_mount / "filler").unlink()
    db = store.connect(db_file)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM annotations").fetchone()[0] == before


def test_read_only_database_file_in_the_app_is_a_message(small_mount, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.fixture_db import build

    db_file = small_mount / "app.db"
    conn = store.connect(db_file)
    build(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_file))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "read-only" in _page_text(at) or "cannot open" in _page_text(at)


def _staged_import(tmp_path, responses: int):
    """A generic file of ``responses`` rows (a judge label each), read and staged: nothing written yet."""
    from sources.tabular import read_tabular

    path = tmp_path / "eval.csv"
    with path.open("w") as f:
        f.write("id,prompt,model,response,judge\n")
        for i in range(responses):
            f.write(f"p{i // 2},Prompt {i // 2},m{i % 2},Answer {i},full_refusal\n")
    return read_tabular(path, "scaled", ["id=id", "prompt=prompt", "model=model", "response=response",
                                         "judge_label=judge"])


@pytest.fixture
def small_steps(monkeypatch):
    """Publish in steps of 100 rows, so a small file takes many transactions."""
    from store import staging

    monkeypatch.setattr(staging, "FIRST_STEP_ROWS", 100)
    monkeypatch.setattr(staging, "MAX_STEP_ROWS", 100)


def test_a_label_goes_in_while_an_import_is_staged_and_between_its_transactions(tmp_path, small_steps, monkeypatch):
    from store import writes

    db_file = tmp_path / "live.db"
    db = store.connect(db_file)
    import_file(db, "coconot", FIXTURES / "coconot_small.jsonl")
    labelled = db.execute("SELECT min(id) FROM responses").fetchone()[0]
    reviewer = store.connect(db_file)  # another connection, as another page session would have
    monkeypatch.setattr(store.connection, "BUSY_TIMEOUT_S", 0.0)  # a label that had to wait would fail
    batch = _staged_import(tmp_path, 1_000)
    writes.add_annotation(reviewer, labelled, "rita", "full_refusal")  # the file is read: nothing is locked
    phases = []

    def label_meanwhile(phase, rows):
        phases.append(phase)
        writes.add_annotation(reviewer, labelled, "rita", ("full_compliance", "full_refusal")[len(phases) % 2])

    result = batch.write(db, on_progress=label_meanwhile)
    assert phases.count("prompts") >= 5 and phases.count("responses") >= 10 and phases[-1] == "labels"
    assert (result.prompts, result.responses, result.verdicts_added) == (500, 1_000, 1_000)
    assert db.execute("SELECT count(*) FROM annotations WHERE annotator = 'rita'").fetchone()[0] == 1 + len(phases)
    assert db.execute("SELECT count(*) FROM import_journal").fetchone()[0] == 0



def test_each_publishing_phase_starts_with_small_steps(tmp_path, monkeypatch):
    """Steps grow while they stay short; responses cost more a row than prompts, so their first step
    must not take the size the prompts grew to."""
    from store import staging

    monkeypatch.setattr(staging, "FIRST_STEP_ROWS", 50)
    monkeypatch.setattr(staging, "PUBLISH_SECONDS", 60.0)  # every step short: the size doubles each time
    steps = []
    _staged_import(tmp_path, 1_000).write(store.connect(tmp_path / "steps.db"),
                                          on_progress=lambda phase, rows: steps.append((phase, rows)))
    prompts = [rows for phase, rows in steps if phase == "prompts"]
    responses = [rows for phase, rows in steps if phase == "responses"]
    assert prompts[:3] == [50, 100, 200] and max(prompts) >= 200
    assert responses[:3] == [50, 100, 200]

def test_an_import_failing_while_publishing_is_undone_but_a_label_given_meanwhile_is_kept(tmp_path, small_steps):
    from store import writes

    db_file = tmp_path / "undo.db"
    db = store.connect(db_file)
    import_file(db, "coconot", FIXTURES / "coconot_small.jsonl")
    before = counts(db) + (db["judges"].count,)
    reviewer = store.connect(db_file)
    batch = _staged_import(tmp_path, 1_000)
    steps = []

    def fail_halfway(phase, rows):
        steps.append(phase)
        if steps.count("responses") == 1:  # a reviewer labels a response the import has just published
            newest = reviewer.execute("SELECT max(id) FROM responses").fetchone()[0]
            writes.add_annotation(reviewer, newest, "rita", "partial_refusal")
        if steps.count("responses") == 4:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        batch.write(db, on_progress=fail_halfway)
    prompts, responses, verdicts, annotations = before[:4]
    assert counts(db) + (db["judges"].count,) == (prompts + 1, responses + 1, verdicts, annotations + 1, before[4])
    kept = db.execute("""SELECT p.text, r.text FROM annotations a JOIN responses r ON r.id = a.response_id
                         JOIN prompts p ON p.id = r.prompt_id WHERE a.annotator = 'rita'""").fetchone()
    assert kept[0].startswith("Prompt ") and kept[1].startswith("Answer ")
    assert db.execute("SELECT count(*) FROM import_journal").fetchone()[0] == 0
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_several_files_are_one_import_undone_together_and_labels_wait_for_the_last(tmp_path, small_steps):
    from sources import SourceError
    from store import staging

    db = store.connect(tmp_path / "group.db")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("question,answer,gold\n" + "".join(f"q{i},a{i},full_refusal\n" for i in range(300)))
    second.write_text("question,answer,gold\nq1,a1,full_refusal\nq2,a2,maybe\n")  # line 3: not a label
    options = dict(dataset="d", model="m", mapping=["prompt=question", "response=answer", "label=gold"])
    (cache,) = db.execute("PRAGMA cache_size").fetchone()
    with pytest.raises(SourceError, match="line 3"):
        with store.import_group(db):
            assert db.execute("PRAGMA cache_size").fetchone()[0] == -staging.IMPORT_CACHE_KB  # while publishing
            import_file(db, "generic", first, **options)
            published = counts(db)
            import_file(db, "generic", second, **options)
    assert db.execute("PRAGMA cache_size").fetchone()[0] == cache  # the connection's own, failed import or not
    assert published == (300, 300, 0, 0), "the first file's rows are published, its labels wait for the last"
    assert counts(db) == (0, 0, 0, 0) and db["judges"].count == 0
    assert db.execute("SELECT count(*) FROM import_journal").fetchone()[0] == 0
    with store.import_group(db):
        results = [import_file(db, "generic", first, **options) for _ in range(2)]
    assert [r.annotations_added for r in results] == [300, 0] and counts(db) == (300, 300, 0, 300)

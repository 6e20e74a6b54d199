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
from tests.conftest import FIXTURES, ROOT, run_cli, skip_or_fail


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

"""The store: schema, append-only annotations, idempotent writes, thread safety."""

import sqlite3
import threading

import pytest

import store
from store import writes
from store.schema import migrations
from tests.conftest import FIXTURES, run_cli

MIGRATIONS = len(migrations._migrations)


def _one_response(db):
    ids = writes.add_prompts(db, [dict(dataset="d", source_id="p1", text="Tell me a secret")])
    return writes.add_responses(db, [dict(prompt_id=ids[("d", "p1")], model="m", text="No.")])[0]


def _another_response(db, k: int) -> int:
    """A response of model m<k> to _one_response's prompt."""
    ids = writes.add_prompts(db, [dict(dataset="d", source_id="p1", text="Tell me a secret")])
    return writes.add_responses(db, [dict(prompt_id=ids[("d", "p1")], model=f"m{k}", text="Yes.")])[0]


def test_fresh_database_is_migrated_with_wal_and_foreign_keys(db):
    assert store.schema_version(db) >= 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"prompts", "responses", "judges", "verdicts", "annotations", "categories"} <= set(db.table_names())
    assert "prompts_fts" in db.table_names() and "responses_fts" in db.table_names()


def test_reopening_does_not_migrate_again(db_path):
    first = store.connect(db_path)
    version = store.schema_version(first)
    assert store.schema_version(store.connect(db_path)) == version


def test_annotations_are_append_only(db):
    rid = _one_response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE annotations SET label = 'full_compliance'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM annotations")
    assert db.execute("SELECT count(*) FROM annotations").fetchone()[0] == 1


def test_override_adds_a_row_and_current_label_is_newest(db):
    rid = _one_response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")
    writes.add_annotation(db, rid, "ann", "partial_refusal", note="second look")
    writes.add_annotation(db, rid, "bob", "full_compliance")
    history = store.reads.annotations_frame(db, history=True)
    current = store.reads.annotations_frame(db)
    assert len(history) == 3
    assert dict(zip(current.annotator, current.label)) == {"ann": "partial_refusal", "bob": "full_compliance"}
    writes.add_annotation(db, rid, "cy", "full_refusal")
    writes.add_annotation(db, rid, "cy", None)  # withdrawn: no current label
    assert store.reads.annotators(db) == ["ann", "bob"]


def test_undo_restores_previous_label_and_keeps_history(db):
    rid = _one_response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")
    writes.add_annotation(db, rid, "ann", "full_compliance")
    writes.undo_last_annotation(db, rid, "ann")
    assert store.reads.annotations_frame(db).label.tolist() == ["full_refusal"]
    writes.undo_last_annotation(db, rid, "ann")  # back past the first label: withdrawn
    assert store.reads.annotations_frame(db).empty
    assert len(store.reads.annotations_frame(db, history=True)) == 4
    assert writes.undo_last_annotation(db, rid, "ann") is None


def test_unknown_label_is_refused(db):
    rid = _one_response(db)
    with pytest.raises(writes.LabelError):
        writes.add_annotation(db, rid, "ann", "maybe")
    assert db.execute("SELECT count(*) FROM annotations").fetchone()[0] == 0


def test_writes_are_idempotent(db):
    rid = _one_response(db)
    assert _one_response(db) == rid
    judge = writes.ensure_judge(db, "rules", "rules")
    assert writes.add_verdicts(db, [dict(response_id=rid, judge_id=judge, label="full_refusal")]) == 1
    assert writes.add_verdicts(db, [dict(response_id=rid, judge_id=judge, label="full_refusal")]) == 0
    row = dict(response_id=rid, annotator="xstest_annotator_1", label="full_refusal")
    assert writes.import_annotations(db, [row]) == 1
    assert writes.import_annotations(db, [row]) == 0


def test_verdicts_are_stored_as_given_whichever_way_the_batch_goes_in(db):
    """A batch is written through one JSON array unless a value cannot cross JSON (a NUL, a NaN),
    when it is bound row by row: both store every value as given, and count only the rows added."""
    rid = _one_response(db)
    texts = ["plain", "caf\u00e9 \u4e2d\U0001f600", 'say "no"\\n', "tab\tnew\nline", "\\u0000 is not a NUL"]
    values = [dict(label="full_refusal", rationale=text, raw_output=text, latency_ms=0.1 + k / 3,
                   prompt_tokens=k, probability=None if k % 2 else 1 / 3) for k, text in enumerate(texts)]
    stored = {}
    for way, extra in (("json", {}), ("row by row (NUL)", dict(rationale="a\x00b")),
                       ("row by row (NaN)", dict(latency_ms=float("nan")))):
        judge = writes.ensure_judge(db, way, "rules")
        assert writes.add_verdicts(db, [dict(response_id=rid, judge_id=judge, label="full_compliance")]) == 1
        batch = [dict(v, response_id=_another_response(db, k), judge_id=judge) for k, v in enumerate(values)]
        batch.append(dict(extra, response_id=rid, judge_id=judge, label="full_refusal"))  # judged already: kept out
        assert writes.add_verdicts(db, batch) == len(values)
        stored[way] = db.execute("""SELECT label, rationale, raw_output, latency_ms, prompt_tokens, completion_tokens,
                                    probability FROM verdicts WHERE judge_id = ? ORDER BY response_id""",
                                 [judge]).fetchall()
    assert stored["json"] == stored["row by row (NUL)"] == stored["row by row (NaN)"]
    assert stored["json"][0][:2] == ("full_compliance", None)
    assert [row[1] for row in stored["json"][1:]] == texts and stored["json"][3][3] == 0.1 + 2 / 3
    # a NUL in a reply is kept whole, not cut where SQLite's JSON functions would cut it
    nul = dict(response_id=_another_response(db, 99), judge_id=judge, label="unparsed", raw_output="a\x00b")
    assert writes.add_verdicts(db, [nul]) == 1
    assert db.execute("SELECT raw_output FROM verdicts WHERE response_id = ?", [nul["response_id"]]).fetchone() == (
        "a\x00b",)


def test_failed_transaction_leaves_nothing(db):
    with pytest.raises(RuntimeError):
        with store.write_transaction(db):
            writes.add_prompts(db, [dict(dataset="d", source_id="x", text="t")])
            raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0


def test_connections_are_per_thread(db_path):
    store.connect(db_path)
    errors = []

    def label(i):
        try:
            conn = store.connect(db_path)
            rid = _one_response(conn)
            writes.add_annotation(conn, rid, f"t{i}", "full_refusal")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.connect(db_path).execute("SELECT count(*) FROM annotations").fetchone()[0] == 8


def test_readonly_connection_cannot_write(db_path):
    store.connect(db_path)
    ro = store.connect(db_path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO judges (name, kind) VALUES ('x', 'rules')")


def test_change_token_moves_on_every_kind_of_change(db):
    from store import categories

    tokens = [store.reads.change_token(db)]
    rid = _one_response(db)
    tokens.append(store.reads.change_token(db))
    writes.add_annotation(db, rid, "ann", "full_refusal")
    tokens.append(store.reads.change_token(db))
    categories.define(db, "ann", "Mine", rubric="r")
    tokens.append(store.reads.change_token(db))
    pid = db.execute("SELECT prompt_id FROM responses WHERE id = ?", [rid]).fetchone()[0]
    categories.assign(db, "ann", "Mine", [pid])
    tokens.append(store.reads.change_token(db))
    writes.add_prompts(db, [dict(dataset="d", source_id="p1", text="Tell me a secret", category="new")])
    tokens.append(store.reads.change_token(db))
    assert len(set(tokens)) == len(tokens)
    assert store.reads.change_token(db) == tokens[-1]


def _database_at(path, version: int):
    """A database built by the first ``version`` migrations only, as an older release left it."""
    import sqlite_utils

    names = [m.name for m in migrations._migrations]
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before=names[version] if version < len(names) else None)
    db.execute(f"PRAGMA user_version = {version}")
    return db


@pytest.mark.parametrize("version", range(1, MIGRATIONS))
def test_an_older_database_upgrades_with_its_data_intact(tmp_path, version):
    path = tmp_path / f"v{version}.db"
    old = _database_at(path, version)
    old.execute("INSERT INTO prompts (id, dataset, source_id, text) VALUES (1, 'd', 'p1', 'prompt one')")
    old.execute("INSERT INTO responses (id, prompt_id, model, text, text_hash, origin) VALUES (1, 1, 'm', 'r', 'h', 'x')")
    old.execute("INSERT INTO judges (id, name, kind) VALUES (1, 'rules:x', 'rules')")
    old.execute("INSERT INTO verdicts (response_id, judge_id, label) VALUES (1, 1, 'full_refusal')")
    for label, undoes in (("full_refusal", None), ("partial_refusal", None), ("full_refusal", 2)):
        old.execute("INSERT INTO annotations (response_id, annotator, label, undoes) VALUES (1, 'ann', ?, ?)",
                    [label, undoes])
    old.execute("INSERT INTO annotations (response_id, annotator, label) VALUES (1, 'bob', 'full_compliance')")
    old.execute("INSERT INTO annotations (response_id, annotator, label, undoes) VALUES (1, 'bob', NULL, 4)")
    old.conn.commit()
    old.conn.close()

    db = store.connect(path)
    assert store.schema_version(db) == MIGRATIONS
    assert db.execute("SELECT text FROM prompts").fetchall() == [("prompt one",)]
    assert db.execute("SELECT label FROM verdicts").fetchall() == [("full_refusal",)]
    assert db.execute("SELECT count(*) FROM annotations").fetchone()[0] == 5  # history kept whole
    # the current label: ann's undo restored full_refusal; bob withdrew his
    assert db.execute("SELECT annotator, label FROM current_annotations").fetchall() == [("ann", "full_refusal")]
    with pytest.raises(Exception, match="append-only"):
        db.execute("DELETE FROM annotations")


def test_a_file_that_is_not_a_database_is_one_sentence_and_stays_as_it_was(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping: milk, eggs\n" * 200)
    before = notes.read_bytes()
    for readonly in (False, True):
        with pytest.raises(store.StoreError, match="notes.txt: this file is not a SQLite database"):
            store.connect(notes, readonly=readonly)
    for args in (["stats"], ["import", "coconot", str(FIXTURES / "coconot_small.jsonl")], ["export", "--format", "csv",
                                                                                              str(tmp_path / "o.csv")]):
        proc = run_cli(notes, *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip() == f"Error: {notes}: this file is not a SQLite database"
    assert notes.read_bytes() == before


def test_read_commands_never_create_a_database(tmp_path):
    typo = tmp_path / "typo.db"
    for args in (["stats"], ["stats", "--json"], ["search", "x"], ["agreement"], ["report"], ["users", "list"],
                 ["compare", "--judge", "a", "--judge", "b"],
                 ["export", "--format", "jsonl", str(tmp_path / "out.jsonl")]):
        proc = run_cli(typo, *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "no such database" in proc.stderr
        assert not typo.exists(), f"{args[0]} created the database"

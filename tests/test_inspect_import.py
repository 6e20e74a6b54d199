"""inspect_ai logs in and score edits out, on real logs of real evals run here (tests/eval_tools.py:
mockllm/model answers, a model-graded scorer whose grader is the fake OpenAI server on 127.0.0.1)."""

import hashlib
import json
import sys

import pytest

import store
from exports import inspect_edits
from sources import SourceError, import_file
from store import writes
from tests.conftest import assert_refused, counts, run_cli, skip_or_fail
from tests.eval_tools import SAMPLES, xstest_grade

JUDGE = "inspect:xstest_mini/model_graded_qa (openai-api/fake/grader)"
LENGTH = "inspect:xstest_mini/answer_length"
CPI = {"C": "full_compliance", "P": "partial_refusal", "I": "full_refusal"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        skip_or_fail("inspect_ai is not installed (pip install -r requirements-test.txt)")
    from tests.eval_tools import run_inspect_coconot, run_inspect_xstest

    folder = tmp_path_factory.mktemp("inspect-logs")
    return {"xstest": run_inspect_xstest(folder / "xstest"), "coconot": run_inspect_coconot(folder / "coconot")}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(db, judge=JUDGE):
    return db.execute(
        """SELECT p.source_id, r.text, v.label, v.rationale, v.raw_output, p.category, p.split, p.expected
           FROM verdicts v JOIN judges j ON j.id = v.judge_id JOIN responses r ON r.id = v.response_id
           JOIN prompts p ON p.id = r.prompt_id WHERE j.name = ? ORDER BY p.source_id, r.id""", [judge]).fetchall()


def test_every_sample_epoch_score_and_explanation_arrives(db, logs):
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(logs["xstest"]))
    result = import_file(db, "inspect", logs["xstest"])
    assert result.datasets == ["inspect:xstest_mini"]
    assert (result.prompts, result.responses, result.verdicts_added) == (6, 12, 24)  # 6 samples x 2 epochs x 2 scorers
    rows = _rows(db)
    assert len(rows) == len(log.samples) == 12
    by_text = {s.output.completion: s.scores["model_graded_qa"] for s in log.samples}
    for source_id, text, label, rationale, raw, category, split, expected in rows:
        score = by_text[text]
        assert (label, rationale, raw) == (CPI[score.value], score.explanation, score.value)
        assert rationale.startswith("The response was read step by step.")
        sample = next(s for s in SAMPLES if s[0] == source_id)
        assert (category, split) == (sample[2], sample[3])
        assert expected == ("should_refuse" if sample[3] == "unsafe" else "should_comply")
    # the grader's letters are what the stand-in grader gives each response
    assert sorted(row[2] for row in rows) == sorted(CPI[xstest_grade(text)] for *_, outputs in SAMPLES
                                                   for text in outputs)


def test_a_score_in_no_label_vocabulary_is_unparsed_with_its_raw_value(db, logs):
    import_file(db, "inspect", logs["xstest"])
    rows = _rows(db, LENGTH)
    assert len(rows) == 12
    assert {label for _, _, label, *_ in rows} == {"unparsed"}
    assert all(float(raw) == round(len(text) / 100, 2) for _, text, _, _, raw, *_ in rows)


def test_reimport_and_folder_and_json_log_add_nothing_new(db, logs, tmp_path):
    from inspect_ai.log import read_eval_log, write_eval_log

    first = import_file(db, "inspect", logs["xstest"])
    before = counts(db)
    again = import_file(db, "inspect", logs["xstest"])
    assert (again.verdicts_added, counts(db)) == (0, before)
    as_json = tmp_path / "copy" / (logs["xstest"].stem + ".json")  # the same log as inspect's JSON, in a folder
    as_json.parent.mkdir()
    write_eval_log(read_eval_log(str(logs["xstest"])), str(as_json), format="json")
    folder = import_file(db, "inspect", as_json.parent)
    assert (folder.prompts, folder.responses, folder.verdicts_added) == (first.prompts, first.responses, 0)
    assert counts(db) == before


def test_a_coconot_task_reads_its_words_on_its_subset(db, logs):
    result = import_file(db, "inspect", logs["coconot"])
    assert result.datasets == ["coconot-contrast"]
    rows = db.execute(
        """SELECT r.text, v.label, v.raw_output, p.split, p.expected FROM verdicts v JOIN responses r ON r.id = v.response_id
           JOIN prompts p ON p.id = r.prompt_id""").fetchall()
    words = {"COMPLIANCE": "full_compliance", "NEITHER": "partial_refusal", "NONCOMPLIANCE": "full_refusal"}
    assert len(rows) == 12
    assert all(label == words[raw] for _, label, raw, _, _ in rows)
    assert {split for *_, split, _ in rows} == {"contrast"}
    # a target that states the expected behaviour says it for its sample (here the XSTest-style targets)
    targets = {text: "should_refuse" if safety == "unsafe" else "should_comply"
               for _, _, _, safety, outputs in SAMPLES for text in outputs}
    assert all(expected == targets[text] for text, *_, expected in rows)


def _label(db, text, *people):
    rid = db.execute("SELECT id FROM responses WHERE text = ?", [text]).fetchone()[0]
    for who, label, *note in people:
        writes.add_annotation(db, rid, who, label, *(note or [None]))
    return rid


def test_human_labels_go_back_as_score_edits_with_provenance(db, logs, tmp_path):
    from inspect_ai.event import ScoreEditEvent
    from inspect_ai.log import read_eval_log

    import_file(db, "inspect", logs["xstest"])
    wrong, right, tied = SAMPLES[5][4][0], SAMPLES[1][4][0], SAMPLES[0][4][1]
    assert xstest_grade(wrong) == "I"  # the grader called an answer a refusal: the humans correct it
    _label(db, wrong, ("ann", "full_compliance", "answers why, no refusal"), ("ben", "full_compliance"))
    _label(db, right, ("ann", "full_refusal"))
    _label(db, tied, ("ann", "full_compliance"), ("ben", "partial_refusal"))
    original = _sha(logs["xstest"])

    report = inspect_edits.write_edits(db, logs["xstest"])
    assert _sha(logs["xstest"]) == original  # the original log is never touched
    assert report.written == logs["xstest"].with_name(logs["xstest"].stem + ".reviewed.eval")
    # one correction; the agreed score confirmed; the tie left alone; the numeric scorer never written to
    assert (report.labelled, report.edits, report.confirmed, report.ties, report.unreadable) == (3, 1, 1, 1, 2)
    assert report.metrics == "recomputed"

    edited = read_eval_log(str(report.written))
    sample = next(s for s in edited.samples if s.output.completion == wrong)
    score = sample.scores["model_graded_qa"]
    assert score.value == "C"
    assert [h.value for h in score.history] == ["I", "C"]  # the original value is kept
    assert score.history[0].provenance is None
    provenance = score.history[1].provenance
    assert provenance.author == "ann, ben"
    assert "full_compliance (2 of 2 annotators" in provenance.reason
    assert provenance.metadata["previous_label"] == "full_refusal"
    assert provenance.metadata["notes"] == {"ann": "answers why, no refusal"}
    assert "answers why, no refusal" in score.explanation
    events = [e for e in sample.events if isinstance(e, ScoreEditEvent)]
    assert [(e.score_name, e.edit.value) for e in events] == [("model_graded_qa", "C")]
    untouched = [s for s in edited.samples if s.output.completion != wrong]
    assert all(not s.scores["model_graded_qa"].history for s in untouched)
    assert sample.scores["answer_length"].value == round(len(wrong) / 100, 2)


def test_in_place_only_when_asked_and_the_cli_says_what_it_wrote(db_path, logs, tmp_path):
    from inspect_ai.log import read_eval_log

    log = tmp_path / logs["xstest"].name
    log.write_bytes(logs["xstest"].read_bytes())
    assert run_cli(db_path, "import", "inspect", log).returncode == 0
    db = store.connect(db_path)
    wrong = SAMPLES[5][4][0]
    _label(db, wrong, ("ann", "full_compliance"))
    before = _sha(log)
    target = tmp_path / "out" / "corrected.eval"
    target.parent.mkdir()
    done = run_cli(db_path, "export", "--format", "inspect", log, "--to", target)
    assert done.returncode == 0, done.stderr
    assert f"wrote {target}: 1 score edits" in done.stdout
    assert _sha(log) == before
    refused = run_cli(db_path, "export", "--format", "inspect", log, "--to", log)
    assert refused.returncode == 1 and "--in-place" in refused.stderr and _sha(log) == before
    done = run_cli(db_path, "export", "--format", "inspect", log, "--in-place")
    assert done.returncode == 0 and _sha(log) != before
    changed = next(s for s in read_eval_log(str(log)).samples if s.output.completion == wrong)
    assert changed.scores["model_graded_qa"].value == "C"


def test_coconot_edits_are_written_in_coconots_words(db, logs):
    from inspect_ai.log import read_eval_log

    import_file(db, "inspect", logs["coconot"])
    wrong = SAMPLES[5][4][0]  # graded NONCOMPLIANCE
    _label(db, wrong, ("ann", "full_compliance"))
    report = inspect_edits.write_edits(db, logs["coconot"])
    assert report.edits == 1
    sample = next(s for s in read_eval_log(str(report.written)).samples if s.output.completion == wrong)
    assert [h.value for h in sample.scores["model_graded_qa"].history] == ["NONCOMPLIANCE", "COMPLIANCE"]


@pytest.mark.parametrize("name, content, match", [
    ("garbage.eval", b"PK\x03\x04 this is not a zip archive at all", "not an inspect_ai log"),
    ("broken.json", b'{"version": 2, "status": "success", "eval": {', "not an inspect_ai log"),
    ("other.json", json.dumps({"version": 2, "status": "success", "eval": {"task": 3}}).encode(),
     "not a valid inspect_ai log"),
])
def test_bad_logs_get_the_importers_error_and_change_nothing(db, logs, tmp_path, name, content, match):
    import_file(db, "inspect", logs["xstest"])
    error = assert_refused(db, "inspect", tmp_path / name, content, match=match)
    assert error.path.endswith(name)
    if name == "other.json":  # a log of the wrong shape: the field inspect_ai's schema refused is named
        assert error.field and "field '" in str(error)


def test_a_bad_log_in_a_folder_stops_the_whole_folder(db, logs, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / logs["xstest"].name).write_bytes(logs["xstest"].read_bytes())
    (folder / "zz-broken.eval").write_bytes(b"PK\x03\x04 truncated")
    before = counts(db)
    with pytest.raises(SourceError, match="zz-broken.eval"):
        import_file(db, "inspect", folder)
    assert counts(db) == before
    (folder / "zz-broken.eval").unlink()
    (folder / logs["xstest"].name).unlink()
    with pytest.raises(SourceError, match="no inspect_ai logs"):
        import_file(db, "inspect", folder)


def test_without_inspect_ai_the_importer_says_how_to_install_it(db, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if the package were not installed
    log = tmp_path / "run.eval"
    log.write_bytes(b"PK")
    with pytest.raises(SourceError, match=r"pip install 'inspect-ai"):
        import_file(db, "inspect", log)
    assert counts(db) == (0, 0, 0, 0)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(db, logs, tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.eval"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("header.json", "w", force_zip64=True) as member:
            chunk = b"\0" * 2**20
            for _ in range(300):  # 300 MB of zeros pack to a few hundred KB
                member.write(chunk)
    with pytest.raises(SourceError, match="zip bomb"):
        import_file(db, "inspect", bomb)
    assert counts(db) == (0, 0, 0, 0)

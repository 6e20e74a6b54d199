"""What the CLI and the Import page share: the kinds, the preview, the role-checked import, the
column guesses, and the benchmark vocabularies the new importers read and write back."""

import pytest

import labels
import sources
from sources import SourceError, import_as, preview
from sources.tabular import guess_mapping
from store import users
from tests.conftest import FIXTURES, counts, run_cli


@pytest.mark.parametrize("columns, expected", [
    (["question_text", "model_answer", "notes"], {"prompt": "question_text", "response": "model_answer"}),
    (["Prompt", "Response", "Model"], {"prompt": "Prompt", "response": "Response", "model": "Model"}),
    (["id", "prompt", "type", "focus"], {"id": "id", "prompt": "prompt", "category": "type"}),
    (["q", "a", "src"], {}),
])
def test_columns_are_guessed_from_their_names_each_once(columns, expected):
    assert guess_mapping(columns) == expected


def test_the_preview_is_what_the_importer_reads_and_writes_nothing(db):
    rows = preview("generic", FIXTURES / "generic_small.csv", rows=3)
    assert len(rows) == 3 and all(isinstance(r, dict) for r in rows)
    parsed = preview("promptfoo", FIXTURES / "promptfoo_results.json", rows=4)
    assert [(r["id"], r["model"]) for r in parsed] == [("t1", "echo-model"), ("t1", "careful-model"),
                                                       ("t2", "echo-model"), ("t2", "careful-model")]
    assert parsed[1]["verdicts"] == "promptfoo:is-refusal: full_refusal; promptfoo:llm-rubric: unparsed"
    with pytest.raises(SourceError, match="--model"):
        preview("lm-eval", FIXTURES / "generic_small.csv")  # the importer's own error, before any import
    assert counts(db) == (0, 0, 0, 0)


def test_only_reviewers_and_admins_import_in_the_app(db):
    users.set_role(db, "ada", "admin")
    users.set_role(db, "vic", "viewer")
    with pytest.raises(users.RoleError, match="vic has the viewer role"):
        import_as(db, "vic", "promptfoo", FIXTURES / "promptfoo_results.json")
    assert counts(db) == (0, 0, 0, 0)
    result = import_as(db, "rita", "promptfoo", FIXTURES / "promptfoo_results.json")
    assert result.responses == 12 and users.registered_role(db, "rita") == "reviewer"


def test_every_kind_declares_what_the_cli_passes():
    assert set(sources.IMPORTERS) == set(sources.KINDS)
    known = {"coconot_set", "orbench_set", "model", "dataset", "mapping"}
    assert all(set(kind.options) <= known and kind.suffixes for kind in sources.KINDS.values())


def test_several_files_are_one_import_and_an_option_of_another_kind_is_refused(db_path, tmp_path):
    good = FIXTURES / "promptfoo_results.json"
    bad = tmp_path / "results.json"
    bad.write_text('{"results": {"results": [{"prompt": {"raw": ""}}]}}')
    failed = run_cli(db_path, "import", "promptfoo", good, bad)
    assert failed.returncode == 1 and "results.json" in failed.stderr
    import store

    assert counts(store.connect(db_path)) == (0, 0, 0, 0)  # the good file did not stay in alone
    done = run_cli(db_path, "import", "promptfoo", good, good)
    assert done.returncode == 0 and done.stdout.count("6 prompts, 12 responses") == 2
    refused = run_cli(db_path, "import", "promptfoo", good, "--model", "x")
    assert refused.returncode == 2 and "--model does not apply to promptfoo files" in refused.stderr
    refused = run_cli(db_path, "export", "--format", "csv", tmp_path / "o.csv", "--in-place")
    assert refused.returncode == 2 and "--in-place does not apply to --format csv" in refused.stderr


@pytest.mark.parametrize("label", labels.LABELS)
def test_labels_written_back_read_back_as_the_same_label(label):
    assert labels.from_xstest_grade(labels.to_xstest_grade(label)) == label
    for coconot_set in ("original", "contrast"):
        assert labels.from_coconot(labels.to_coconot(label, coconot_set), coconot_set) == label


def test_refusal_assertions_are_labels_and_other_assertions_are_not():
    assert labels.from_promptfoo("is-refusal", True) == labels.FULL_REFUSAL
    assert labels.from_promptfoo("not-is-refusal", True) == labels.FULL_COMPLIANCE
    assert labels.from_promptfoo("is-refusal", False) == labels.FULL_COMPLIANCE
    assert labels.from_promptfoo("llm-rubric", True) is None
    assert labels.from_promptfoo("is-refusal", None) is None
    assert [labels.expected_from(w) for w in ("should_refuse", "Should comply", "unsafe", "42", None)] == \
        ["should_refuse", "should_comply", "should_refuse", None, None]
    assert labels.from_xstest_grade("C") == labels.FULL_COMPLIANCE and labels.from_xstest_grade("X") is None

"""promptfoo results and lm-evaluation-harness samples files: the fixtures are real output of the
tools (tests/eval_tools.py made them); the tests marked so run the tools again here."""

import json
import shutil

import pytest

from sources import import_file
from tests.conftest import FIXTURES, assert_refused, counts, run_cli, skip_or_fail
from tests.eval_tools import SAMPLES, promptfoo_executable

PROMPTFOO = FIXTURES / "promptfoo_results.json"
LM_EVAL = next((FIXTURES / "lm_eval").glob("samples_*.jsonl"))
REFUSED_BY_CAREFUL_MODEL = {"t1", "t2", "t5"}  # the fake careful-model refuses prompts about killing or bombs


def _verdicts(db, judge):
    return db.execute(
        """SELECT p.source_id, r.model, r.text, v.label, v.rationale, v.raw_output FROM verdicts v
           JOIN judges j ON j.id = v.judge_id JOIN responses r ON r.id = v.response_id
           JOIN prompts p ON p.id = r.prompt_id WHERE j.name = ? ORDER BY p.source_id, r.model""", [judge]).fetchall()


def _check_promptfoo(db, path):
    result = import_file(db, "promptfoo", path)
    assert result.datasets == ["promptfoo:refusal mini"]
    assert (result.prompts, result.responses, result.verdicts_added) == (6, 12, 24)  # 6 tests x 2 providers x 2
    refusal = _verdicts(db, "promptfoo:is-refusal")
    assert {model for _, model, *_ in refusal} == {"echo-model", "careful-model"}
    for source_id, model, text, label, rationale, raw in refusal:
        refused = model == "careful-model" and source_id in REFUSED_BY_CAREFUL_MODEL
        assert label == ("full_refusal" if refused else "full_compliance")
        assert json.loads(raw)["pass"] is refused and rationale
    prompts = {sid: prompt for sid, prompt, *_ in SAMPLES}
    assert all(text == prompts[sid] for sid, model, text, *_ in refusal if model == "echo-model")
    rubric = _verdicts(db, "promptfoo:llm-rubric")
    assert len(rubric) == 12 and {label for *_, label, _, _ in rubric} == {"unparsed"}  # a rubric's pass is no label
    assert all(json.loads(raw)["value"] == "The response declines to help with the request." for *_, raw in rubric)
    assert {r for *_, r, _ in rubric} == {"It declines.", "It answers the question."}
    rows = db.execute("SELECT source_id, category, expected FROM prompts ORDER BY source_id").fetchall()
    assert rows == [(sid, kind, "should_refuse" if safety == "unsafe" else "should_comply")
                    for sid, _, kind, safety, _ in SAMPLES]


def test_promptfoo_results_import_with_the_expected_counts_and_labels(db):
    _check_promptfoo(db, PROMPTFOO)
    before = counts(db)
    assert import_file(db, "promptfoo", PROMPTFOO).verdicts_added == 0
    assert counts(db) == before


def test_promptfoo_real_run_imports(db, tmp_path):
    executable = promptfoo_executable()
    if not executable:
        skip_or_fail("promptfoo not found (npm install promptfoo; set REFUSAL_REVIEW_PROMPTFOO or put it on PATH)")
    from tests.eval_tools import run_promptfoo

    _check_promptfoo(db, run_promptfoo(tmp_path, executable))


def _promptfoo_with(change) -> bytes:
    document = json.loads(PROMPTFOO.read_text())
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize("content, line, field", [
    (b'{"results": {"results": [\n  {"prompt": }\n]}}', 2, None),
    (b'{"evalId": "x", "results": []}', None, "results.results"),
    (_promptfoo_with(lambda d: d["results"]["results"][3].pop("prompt")), None, "results.results[3].prompt.raw"),
    (_promptfoo_with(lambda d: d["results"]["results"][5].update(provider={})), None, "results.results[5].provider"),
])
def test_bad_promptfoo_files_are_refused_with_file_line_field(db, tmp_path, content, line, field):
    import_file(db, "promptfoo", PROMPTFOO)
    assert_refused(db, "promptfoo", tmp_path / "results.json", content, line=line, field=field)


def _check_lm_eval(db, path, model="fake-chat", given=None):
    result = import_file(db, "lm-eval", path, model=given)
    assert result.datasets == ["lm-eval:refusal_mini"]
    assert (result.prompts, result.responses, result.verdicts_added) == (6, 6, 6)
    rows = _verdicts(db, "lm-eval:refusal_mini/exact_match")
    first = {sid: outputs[0] for sid, *_, outputs in SAMPLES}
    assert [(sid, m, text) for sid, m, text, *_ in rows] == [(sid, model, first[sid]) for sid in sorted(first)]
    assert {(label, raw) for *_, label, _, raw in rows} == {("unparsed", "0.0")}  # exact_match is no label
    prompts = db.execute("SELECT source_id, text, category, expected FROM prompts ORDER BY source_id").fetchall()
    assert prompts == [(sid, prompt, kind, "should_refuse" if safety == "unsafe" else "should_comply")
                       for sid, prompt, kind, safety, _ in SAMPLES]


def test_lm_eval_samples_import_with_the_model_from_the_runs_results_file(db):
    _check_lm_eval(db, LM_EVAL)
    before = counts(db)
    assert import_file(db, "lm-eval", LM_EVAL).verdicts_added == 0 and counts(db) == before


def test_lm_eval_without_results_file_needs_model(db, db_path, tmp_path):
    alone = tmp_path / LM_EVAL.name
    shutil.copy(LM_EVAL, alone)
    refused = run_cli(db_path, "import", "lm-eval", alone)
    assert refused.returncode == 1 and "--model" in refused.stderr
    assert counts(db) == (0, 0, 0, 0)
    _check_lm_eval(db, alone, model="my-model", given="my-model")


def test_lm_eval_repeats_are_separate_responses_with_the_metric_kept_aside(db, tmp_path):
    rows = [json.loads(line) for line in LM_EVAL.read_text().splitlines()]
    rows[0]["resps"] = [["first try", "second try"]]
    path = tmp_path / LM_EVAL.name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = import_file(db, "lm-eval", path, model="m")
    assert (result.responses, result.verdicts_added) == (7, 5)
    settings = db.execute("SELECT settings FROM responses WHERE text = 'second try'").fetchone()[0]
    assert json.loads(settings)["lm_eval_metrics"] == {"exact_match": 0.0}


def _lm_eval_with(index, change) -> str:
    rows = [json.loads(line) for line in LM_EVAL.read_text().splitlines()]
    change(rows[index])
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("content, line, field", [
    (LM_EVAL.read_text().replace('"doc_id": 2', '"doc_id": 2,,', 1), 3, None),
    (_lm_eval_with(3, lambda r: r.update(resps=[[[-1.5, False]], [[-0.2, True]]])), 4, "resps"),
    (_lm_eval_with(4, lambda r: r.pop("arguments")), 5, "arguments.gen_args_0.arg_0"),
])
def test_bad_lm_eval_files_are_refused_with_file_line_field(db, tmp_path, content, line, field):
    import_file(db, "lm-eval", LM_EVAL)
    assert_refused(db, "lm-eval", tmp_path / "samples_refusal_mini_2026-01-01T00-00-00.jsonl", content,
                   line=line, field=field, model="m")


def test_lm_eval_real_run_imports(db, tmp_path):
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        skip_or_fail("lm_eval is not installed (pip install -r requirements-test.txt)")
    from tests.eval_tools import run_lm_eval

    _check_lm_eval(db, run_lm_eval(tmp_path))

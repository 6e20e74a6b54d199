"""Generic CSV / JSONL / Parquet import through a column mapping."""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sources import SourceError, import_file
from sources.batch import text_id
from tests.conftest import FIXTURES, assert_refused, counts, run_cli

MAPPING = ["prompt=question", "response=answer", "model=bot", "category=topic", "label=gold",
           "annotator=reviewer", "judge_label=judge_a"]


def as_format(tmp_path, suffix):
    frame = pd.read_csv(FIXTURES / "generic_small.csv")
    path = tmp_path / f"generic{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_text((FIXTURES / "generic_small.csv").read_text())
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_mapped_file_gives_prompts_responses_human_labels_and_judge_verdicts(db, tmp_path, suffix):
    result = import_file(db, "generic", as_format(tmp_path, suffix), dataset="my-eval", mapping=MAPPING)
    assert result.datasets == ["my-eval"]
    assert counts(db) == (3, 3, 3, 3)
    prompt = db.execute("SELECT source_id, category, expected FROM prompts "
                        "WHERE text LIKE 'How do I whittle%'").fetchone()
    assert prompt == (text_id("How do I whittle a knife?"), "crafts", None)
    assert dict(db.execute("SELECT model, count(*) FROM responses GROUP BY model").fetchall()) == {"model-a": 2,
                                                                                                  "model-b": 1}
    human = db.execute("SELECT annotator, label FROM annotations ORDER BY id").fetchall()
    assert human == [("alice", "full_compliance"), ("bob", "full_refusal"), ("alice", "partial_refusal")]
    judged = db.execute("SELECT j.name, v.label, v.raw_output FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                        "ORDER BY v.response_id").fetchall()
    assert judged == [("judge_a", "full_compliance", "full_compliance"), ("judge_a", "unparsed", "REFUSAL??"),
                      ("judge_a", "partial_refusal", "3_partial_refusal")]
    import_file(db, "generic", as_format(tmp_path, suffix), dataset="my-eval", mapping=MAPPING)
    assert counts(db) == (3, 3, 3, 3)


def test_same_named_columns_need_no_mapping_and_model_option_fills_in(db, tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text('{"id": "q1", "prompt": "Hi?", "response": "Hello!", "expected": "should_comply"}\n'
                    '{"id": "q2", "prompt": "Bomb?", "response": "No.", "expected": "should_refuse"}\n')
    import_file(db, "generic", path, dataset="plain", model="m")
    rows = db.execute("SELECT p.source_id, p.expected, r.model FROM prompts p JOIN responses r ON r.prompt_id = p.id "
                      "ORDER BY p.source_id").fetchall()
    assert rows == [("q1", "should_comply", "m"), ("q2", "should_refuse", "m")]


@pytest.mark.parametrize("options, message, field", [
    (dict(mapping=MAPPING), "--dataset", None),
    (dict(dataset="d", mapping=["prompt=nope"]), "missing required column", "nope"),
    (dict(dataset="d", mapping=["prompt=question", "response=answer"]), "--model", "model"),
    (dict(dataset="d", mapping=["prompt=question", "colour=topic"]), "unknown field 'colour'", None),
    (dict(dataset="d", mapping=["prompt"]), "not field=column", None),
    (dict(dataset="d", mapping=["prompt=question", "label=gold"]), "no response column", "response"),
    (dict(dataset="d"), "no prompt column", "prompt"),
])
def test_bad_mappings_fail_on_the_header(db, options, message, field):
    with pytest.raises(SourceError, match=message) as info:
        import_file(db, "generic", FIXTURES / "generic_small.csv", **options)
    assert info.value.field == field
    assert counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize("content, line, field", [
    ("question,answer,bot,gold\nq1,a,m,full_refusal\nq2,a,m,complied\n", 3, "gold"),
    ("question,answer,bot,gold,expected\nq1,a,m,full_refusal,refuse\n", 2, "expected"),
    ("question,answer,bot,gold\nq1,a,,full_refusal\n", 2, "bot"),
])
def test_bad_rows_are_named_and_nothing_changes(db, tmp_path, content, line, field):
    import_file(db, "generic", FIXTURES / "generic_small.csv", dataset="d", mapping=MAPPING)
    assert_refused(db, "generic", tmp_path / "rows.csv", content, line, field, dataset="d",
                   mapping=["prompt=question", "response=answer", "model=bot", "label=gold"])


def test_cli_generic_import_with_map_options(tmp_path):
    db_file = tmp_path / "cli.db"
    def run(*args):
        return run_cli(db_file, *args)
    args = ["import", "generic", str(FIXTURES / "generic_small.csv"), "--dataset", "my-eval"]
    for item in MAPPING:
        args += ["--map", item]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(run("stats", "--json").stdout)
    assert figures["datasets"] == {"my-eval": {"prompts": 3, "responses": 3}}
    assert (figures["verdicts"], figures["annotations"]) == (3, 3)
    bad = run("import", "generic", str(FIXTURES / "generic_small.csv"), "--dataset", "x", "--map", "prompt=nope")
    assert bad.returncode != 0 and "nope" in bad.stderr and "Traceback" not in bad.stderr
    assert json.loads(run("stats", "--json").stdout) == figures


def test_a_short_row_names_the_missing_field_instead_of_importing_empty_text(db, tmp_path):
    content = "question,answer,bot,topic\nq1,a1,m,t\nq2,a2\n"  # line 3 lacks bot and topic
    assert_refused(db, "generic", tmp_path / "short.csv", content, 3, "bot", match="missing", dataset="d",
                   mapping=["prompt=question", "response=answer", "model=bot", "category=topic"])


def test_a_tsv_file_is_read_as_tab_separated(db, tmp_path):
    path = tmp_path / "eval.tsv"
    path.write_text("prompt\tresponse\tmodel\nHow, exactly, do locks work?\tLike this, mostly.\tm\n")
    result = import_file(db, "generic", path, dataset="d")
    assert (result.prompts, result.responses) == (1, 1)
    assert db.execute("SELECT text FROM prompts").fetchone()[0] == "How, exactly, do locks work?"
    assert db.execute("SELECT text FROM responses").fetchone()[0] == "Like this, mostly."


def test_a_column_named_twice_in_the_header_is_refused(db, tmp_path):
    assert_refused(db, "generic", tmp_path / "two.csv", "prompt,prompt\nfirst,second\n", 1, "prompt",
                   match="twice", dataset="d")


def test_a_known_id_with_another_prompt_text_is_refused_in_a_later_import(db, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("qid,question\nq1,What is the capital of France?\nq2,How do I bake bread?\n")
    import_file(db, "generic", first, dataset="d", mapping=["id=qid", "prompt=question"])
    again = tmp_path / "again.csv"  # same ids, same texts (up to whitespace): the same prompts, nothing new
    again.write_text("qid,question\nq2,How do I bake bread?  \nq1,What is the capital of France?\n")
    assert import_file(db, "generic", again, dataset="d", mapping=["id=qid", "prompt=question"]).prompts == 2
    error = assert_refused(db, "generic", tmp_path / "later.csv",
                           "qid,question,answer\nq3,New prompt,r\nq1,What is the capital of Spain?,Madrid\n",
                           3, "qid", match="already in dataset 'd' with a different prompt", dataset="d",
                           model="m", mapping=["id=qid", "prompt=question", "response=answer"])
    assert "q1" in str(error) and "France" in str(error)
    kept = db.execute("SELECT text FROM prompts WHERE source_id = 'q1'").fetchone()[0]
    assert kept == "What is the capital of France?"
    other = tmp_path / "other.csv"  # another dataset may use the same ids for its own prompts
    other.write_text("qid,question\nq1,What is the capital of Spain?\n")
    assert import_file(db, "generic", other, dataset="e", mapping=["id=qid", "prompt=question"]).prompts == 1


@pytest.mark.parametrize("column, kind", [
    (pa.array([["a", "b"], ["c"]]), "list"),
    (pa.array([b"raw", b"\xff"], pa.binary()), "binary"),
    (pa.array([{"x": 1}, {"x": 2}]), "struct"),
])
def test_parquet_list_binary_and_struct_columns_are_named_errors(db, tmp_path, column, kind):
    path = tmp_path / f"{kind}.parquet"
    pq.write_table(pa.table({"prompt": ["p1", "p2"], "response": column}), path)
    with pytest.raises(SourceError, match=f"a column of {kind}") as info:
        import_file(db, "generic", path, dataset="d", model="m")
    assert info.value.field == "response" and path.name in str(info.value)
    assert counts(db) == (0, 0, 0, 0)

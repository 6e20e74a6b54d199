"""Exports: every format has the prompts, responses, verdicts and labels; JSONL round-trips into a
fresh database; CSV cells that look like formulas are inert; the CLI writes the same files."""

import csv
import json

import pandas as pd
import pytest
from click.testing import CliRunner

import store
from cli import cli
from errors import UserError
from exports import files as export
from sources import import_file
from store import categories, writes
from tests import fixture_db

FORMULA = '=HYPERLINK("http://127.0.0.1:9","x")'


@pytest.fixture
def team(db):
    built = fixture_db.build(db)
    rid = built.responses[("orig-3", "llama-3-8b")]
    writes.add_annotation(db, rid, "carol", "partial_refusal", note="hedges, then answers")
    writes.add_annotation(db, rid, "carol", "full_refusal", note="second look")  # history: 2 rows, 1 current
    categories.define(db, "alice", "Doxxing", parent="privacy", rubric="Never locate a person.")
    categories.assign(db, "alice", "Doxxing", [built.prompts["orig-1"]])
    writes.add_prompts(db, [dict(dataset="own", source_id="lonely", text="A prompt nobody answered yet")])
    db.built = built
    return db


def _labels(db):
    """Current human labels keyed by what survives a move between databases."""
    return set(db.execute(
        """SELECT p.dataset, p.source_id, r.model, a.annotator, a.label, coalesce(a.note, '')
           FROM current_annotations a JOIN responses r ON r.id = a.response_id JOIN prompts p ON p.id = r.prompt_id"""))


def _verdicts(db):
    return set(db.execute(
        """SELECT p.source_id, r.model, j.name, v.label, v.rationale FROM verdicts v JOIN judges j ON j.id = v.judge_id
           JOIN responses r ON r.id = v.response_id JOIN prompts p ON p.id = r.prompt_id"""))


def test_jsonl_export_imports_into_a_fresh_database_with_the_same_labels(team, tmp_path):
    out = export.write(team, "jsonl", tmp_path / "team.jsonl")[0]
    fresh = store.connect(tmp_path / "fresh.db")
    result = import_file(fresh, "refusal-review", out)
    assert result.annotations_added == len(_labels(team)) > 0
    assert _labels(fresh) == _labels(team)
    assert _verdicts(fresh) == _verdicts(team)
    for table in ("prompts", "responses", "verdicts"):
        assert fresh[table].count == team[table].count
    moved = fresh.execute("SELECT id FROM prompts WHERE source_id = 'orig-1'").fetchone()[0]
    assert categories.for_prompt(fresh, moved) == ["Doxxing"]
    assert import_file(fresh, "refusal-review", out).annotations_added == 0  # idempotent
    assert fresh["users"].count == 0  # imported annotators are data, not users


def test_jsonl_history_carries_every_label_row(team, tmp_path):
    out = export.write(team, "jsonl", tmp_path / "h.jsonl", history=True)[0]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    histories = sum(len(r["history"]) for r in rows)
    assert histories == team["annotations"].count
    carol = next(r for r in rows if r["id"] == "orig-3" and r["model"] == "llama-3-8b")
    assert [h["label"] for h in carol["history"]] == ["partial_refusal", "full_refusal"]
    assert [lab["label"] for lab in carol["labels"]] == ["full_refusal"]
    lonely = next(r for r in rows if r["id"] == "lonely")
    assert lonely["response"] is None and lonely["labels"] == []


def test_bad_import_row_names_file_line_and_field_and_writes_nothing(team, tmp_path):
    out = export.write(team, "jsonl", tmp_path / "team.jsonl")[0]
    lines = out.read_text().splitlines()
    row = json.loads(lines[3])
    row["labels"] = [dict(annotator="zed", label="maybe")]
    lines[3] = json.dumps(row)
    out.write_text("\n".join(lines) + "\n")
    fresh = store.connect(tmp_path / "fresh.db")
    with pytest.raises(import_file.__globals__["SourceError"], match=r"line 4: field 'labels\[0\].label'"):
        import_file(fresh, "refusal-review", out)
    assert fresh["prompts"].count == 0


def test_csv_neutralises_formulas_and_pandas_and_csv_read_them_as_text(db, tmp_path):
    ids = writes.add_prompts(db, [dict(dataset="d", source_id="p", text="+1 then @SUM(A1)")])
    rid = writes.add_responses(db, [dict(prompt_id=ids[("d", "p")], model="m", text=FORMULA)])[0]
    writes.add_responses(db, [dict(prompt_id=ids[("d", "p")], model="m2", text="-2\tcells\rand a tab")])
    writes.add_annotation(db, rid, "=cmd|' /C calc'!A0", "full_compliance", note="@evil")
    out = export.write(db, "csv", tmp_path / "x.csv")[0]
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["response"] == "'" + FORMULA
    assert rows[0]["prompt"] == "'+1 then @SUM(A1)"
    assert rows[1]["response"].startswith("'-2")
    assert "label:'=cmd|' /C calc'!A0" not in rows[0]  # header has its own prefix, so it starts with 'label:'
    assert rows[0]["note:=cmd|' /C calc'!A0"] == "'@evil"
    frame = pd.read_csv(out)
    assert frame.loc[0, "response"] == "'" + FORMULA
    every_cell = [str(v) for v in frame.astype(str).to_numpy().ravel()] + list(frame.columns)
    assert not [v for v in every_cell if v.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_csv_and_parquet_are_one_wide_row_per_response(team, tmp_path):
    paths = export.write(team, "csv", tmp_path / "t.csv", history=True)
    assert [p.name for p in paths] == ["t.csv", "t.history.csv"]
    wide = pd.read_csv(paths[0])
    parquet = pd.read_parquet(export.write(team, "parquet", tmp_path / "t.parquet")[0])
    assert len(wide) == len(parquet) == team["responses"].count + 1  # + the prompt with no response
    assert {"verdict:rules", "rationale:gpt-judge", "label:alice", "note:carol"} <= set(wide.columns)
    row = parquet[(parquet.source_id == "orig-3") & (parquet.model == "llama-3-8b")].iloc[0]
    assert row["label:carol"] == "full_refusal" and row["note:carol"] == "second look"
    assert len(pd.read_csv(paths[1])) == team["annotations"].count


def test_coconot_style_export_uses_the_teams_categories(team, tmp_path):
    out = export.write(team, "coconot", tmp_path / "c.jsonl")[0]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(rows[0]) >= {"id", "category", "subcategory", "prompt", "response", "labels", "verdicts"}
    mine = [r for r in rows if r["id"] == "orig-1"]
    assert {(r["category"], r["subcategory"]) for r in mine} == {("privacy", "Doxxing")}
    plain = next(r for r in rows if r["id"] == "orig-3" and r["model"] == "llama-3-8b")
    assert (plain["category"], plain["labels"]) == ("Incomplete requests", {"carol": "full_refusal"})
    fresh = store.connect(tmp_path / "fresh.db")  # CoCoNot's own importer reads it
    assert import_file(fresh, "coconot", out).prompts == len({r["id"] for r in rows})
    with pytest.raises(UserError, match="no label history"):
        export.render(team, "coconot", history=True)


def test_cli_export_writes_each_format(team, db_path, tmp_path):
    runner = CliRunner()
    for fmt in export.FORMATS:
        out = tmp_path / f"cli-{fmt}{export.SUFFIX[fmt]}"
        result = runner.invoke(cli, ["--db", str(db_path), "export", "--format", fmt, str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == export.render(team, fmt)[""]
    result = runner.invoke(cli, ["--db", str(db_path), "export", "--format", "csv", "--history", str(tmp_path / "h.csv")])
    assert result.exit_code == 0 and (tmp_path / "h.history.csv").exists()
    result = runner.invoke(cli, ["--db", str(db_path), "export", "--format", "coconot", "--history", str(tmp_path / "n")])
    assert result.exit_code == 1 and "no label history" in result.output

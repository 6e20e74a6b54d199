"""Issue 17's team features below the pages: tags, comments, flags and final labels (append-only,
role-checked, in the filter, in the analyses, in the JSONL export and back), display names and
judge prefixes, the CoCoNot preference data as contrast, exports of a selection, and the smaller
command-line fixes."""

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

import labels
import store
from analysis import agreement, benchmarks, humans
from cli import cli
from exports import files
from sources import SourceError, import_file
from store import adjudication, discussion, names, review, users
from store.selection import Selection
from tests.conftest import run_cli
from tests.fixture_db import build


@pytest.fixture
def fixture(db):
    return build(db)


def _rid(fixture, source_id, model):
    return fixture.responses[(source_id, model)]


# --- tags, comments, flags ------------------------------------------------------------------------

def test_tags_are_one_spelling_append_only_and_found_by_the_filter(db, fixture):
    rid = _rid(fixture, "orig-1", "gpt-4o-mini")
    assert discussion.set_tags(db, rid, ["Lecture ", "harmful  content leaked"], "carol") == \
        (["harmful content leaked", "lecture"], [])
    assert discussion.set_tags(db, rid, ["lecture"], "carol") == ([], ["harmful content leaked"])
    assert discussion.toggle_tag(db, rid, discussion.FLAG, "carol") is True
    assert discussion.tags_of(db, [rid]) == {rid: ["lecture", discussion.FLAG]}
    events = db.execute("SELECT tag, added FROM tag_events ORDER BY id").fetchall()
    assert events == [("harmful content leaked", 1), ("lecture", 1), ("harmful content leaked", 0),
                      (discussion.FLAG, 1)]  # nothing rewritten: taking a tag off is a row
    with pytest.raises(Exception, match="append-only"):
        db.execute("DELETE FROM tag_events")
    assert "harmful content leaked" in discussion.vocabulary(db)  # the team's words stay offered
    flagged = review.count_items(db, Selection(tag=discussion.FLAG))
    assert flagged == 1 and review.item_ids(db, Selection(tag="lecture")) == [fixture.prompts["orig-1"]]
    with pytest.raises(discussion.DiscussionError):
        discussion.set_tags(db, rid, ["a,b"], "carol")


def test_comments_need_a_reviewer_and_are_kept_in_order(db, fixture):
    rid = _rid(fixture, "orig-2", "llama-3-8b")
    users.set_role(db, "vic", "viewer")
    with pytest.raises(users.RoleError):
        discussion.add_comment(db, rid, "vic", "I only read")
    discussion.add_comment(db, rid, "carol", "Is this a refusal or a lecture?")
    discussion.add_comment(db, rid, "dave", "A lecture: <b>no</b> answer at all")
    thread = discussion.comments_of(db, [rid])[rid]
    assert [(c.author, c.body) for c in thread] == [("carol", "Is this a refusal or a lecture?"),
                                                     ("dave", "A lecture: <b>no</b> answer at all")]
    with pytest.raises(discussion.DiscussionError):
        discussion.add_comment(db, rid, "carol", "   ")


# --- final labels --------------------------------------------------------------------------------

def _tie(db, fixture):
    rid = _rid(fixture, "con-3", "mistral-7b")
    store.writes.add_annotation(db, rid, "ann", labels.FULL_COMPLIANCE)
    store.writes.add_annotation(db, rid, "ben", labels.FULL_REFUSAL)
    return rid


def test_an_adjudicator_settles_a_tie_and_it_becomes_the_reference(db, fixture):
    rid = _tie(db, fixture)
    assert review.item_ids(db, Selection(status="tied")) == [fixture.prompts["con-3"]]
    before = humans.reference(store.reads.annotations_frame(db))
    assert before.set_index("response_id").loc[rid, "tie"]
    users.set_role(db, "boss", "admin")
    with pytest.raises(users.RoleError):
        adjudication.adjudicate(db, rid, labels.FULL_COMPLIANCE, "ann")  # a reviewer cannot
    adjudication.adjudicate(db, rid, labels.FULL_COMPLIANCE, "boss", "answers the question")
    final = adjudication.finals_frame(db)
    ref = humans.reference(store.reads.annotations_frame(db), final=final).set_index("response_id")
    assert ref.loc[rid, "reference"] == labels.FULL_COMPLIANCE and ref.loc[rid, "final"] and not ref.loc[rid, "tie"]
    assert review.item_ids(db, Selection(status="tied")) == []  # settled: no longer work for the adjudicator
    frames = store.reads.analysis_frames(db)
    report = agreement.judge_report(*frames, "rules", final=final, resamples=20)
    assert report["ties_excluded"] == 0 and report["adjudicated"] == 1
    assert agreement.judge_report(*frames, "rules", resamples=20)["ties_excluded"] == 1
    adjudication.adjudicate(db, rid, None, "boss")  # withdrawn: a row, and the tie is back
    assert adjudication.finals_frame(db).empty and review.item_ids(db, Selection(status="tied"))


def test_tags_are_counted_per_kind_of_judge_error(db, fixture):
    rid = _rid(fixture, "orig-1", "llama-3-8b")  # alice: partial refusal; rules: full refusal
    discussion.set_tags(db, rid, ["refused the wrong part"], "carol")
    frames = store.reads.analysis_frames(db)
    report = agreement.judge_report(*frames, "rules", tags=discussion.tags_frame(db), resamples=20)
    tagged = report["tags_on_errors"]
    row = tagged[tagged["tag"] == "refused the wrong part"].iloc[0]
    assert (row.reference, row.judge_label, row.n) == (labels.PARTIAL_REFUSAL, labels.FULL_REFUSAL, 1)
    assert row.errors >= 1


# --- export and import ----------------------------------------------------------------------------

def test_tags_comments_and_final_labels_go_out_in_jsonl_and_come_back(db, fixture, tmp_path):
    rid = _tie(db, fixture)
    discussion.set_tags(db, rid, ["lecture", discussion.FLAG], "carol")
    discussion.add_comment(db, rid, "carol", "Tie: who is right?")
    users.set_role(db, "boss", "admin")
    adjudication.adjudicate(db, rid, labels.PARTIAL_REFUSAL, "boss", "half of each")
    out = tmp_path / "team.jsonl"
    files.write(db, None, out)  # the format from the suffix
    record = next(r for r in map(json.loads, out.read_text().splitlines())
                  if r["id"] == "con-3" and r["model"] == "mistral-7b")
    assert [t["tag"] for t in record["tags"]] == ["lecture", discussion.FLAG]
    assert [(c["author"], c["body"]) for c in record["comments"]] == [("carol", "Tie: who is right?")]
    assert record["final"]["label"] == labels.PARTIAL_REFUSAL and record["final"]["adjudicator"] == "boss"

    other = store.connect(tmp_path / "other.db")
    for _ in range(2):  # twice: the second import adds nothing
        import_file(other, "refusal-review", out)
    key = ("coconot-contrast", "con-3", "mistral-7b", record["response"])
    new_rid = store.export.find_responses(other, [key])[key]
    assert discussion.tags_of(other, [new_rid]) == {new_rid: ["lecture", discussion.FLAG]}
    assert [c.body for c in discussion.comments_of(other, [new_rid])[new_rid]] == ["Tie: who is right?"]
    assert adjudication.finals_of(other, [new_rid])[new_rid].label == labels.PARTIAL_REFUSAL
    assert other.execute("SELECT count(*) FROM tag_events").fetchone()[0] == 2
    assert other.execute("SELECT count(*) FROM adjudications").fetchone()[0] == 1


def _contents(db) -> dict[str, list]:
    """Every row of every table a user's work lives in (not the edit counter, which an undo moves
    on purpose so caches miss, nor the full-text index's own tables)."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                       "'%fts%' AND name NOT IN ('edit_counter', 'sqlite_sequence')")]
    return {t: db.execute(f"SELECT * FROM \"{t}\" ORDER BY rowid").fetchall() for t in tables}


def test_a_failure_writing_the_discussion_undoes_the_whole_import(db, fixture, tmp_path):
    """Tags, comments and final labels are written in the import's last transaction: when that
    fails (here the database refuses the final label), the prompts and responses published before it
    are undone too and the database is as it was."""
    import sqlite3

    rid = _tie(db, fixture)
    discussion.set_tags(db, rid, ["lecture"], "carol")
    discussion.add_comment(db, rid, "carol", "Tie: who is right?")
    users.set_role(db, "boss", "admin")
    adjudication.adjudicate(db, rid, labels.PARTIAL_REFUSAL, "boss", "half of each")
    rows = [json.loads(line) for line in files.render(db, "jsonl")[""].decode().splitlines()]
    half = tmp_path / "half.jsonl"  # the target already holds part of the file, without its discussion
    half.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in ("tags", "comments", "final")})
                            + "\n" for r in rows[:len(rows) // 2]))
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert any(r.get("final") for r in rows[len(rows) // 2:]), "the failing final label is in the new half"

    other = store.connect(tmp_path / "other.db")
    import_file(other, "refusal-review", half)
    other.execute("CREATE TRIGGER refuse_finals BEFORE INSERT ON adjudications "
                  "BEGIN SELECT RAISE(ABORT, 'no final labels today'); END")
    before = _contents(other)
    with pytest.raises(sqlite3.DatabaseError, match="no final labels today"):
        import_file(other, "refusal-review", full)
    assert _contents(other) == before
    assert other.execute("SELECT count(*) FROM responses").fetchone()[0] < len(rows)
    assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    other.execute("DROP TRIGGER refuse_finals")
    import_file(other, "refusal-review", full)  # and with nothing refusing it, all of it goes in
    assert other.execute("SELECT count(*) FROM adjudications").fetchone()[0] == 1
    assert other.execute("SELECT count(*) FROM comments").fetchone()[0] == 1


@pytest.mark.parametrize("change, field", [
    (lambda r: r.update(final={"label": "maybe", "adjudicator": "x"}), "final.label"),
    (lambda r: r.update(final="partial"), "final"),
    (lambda r: r.update(tags=[{"tag": "a,b", "author": "x"}]), "tags[0].tag"),
    (lambda r: r.update(comments=[{"author": "x"}]), "comments[0].body"),
])
def test_bad_team_fields_are_named_and_nothing_is_written(db, fixture, tmp_path, change, field):
    rows = [json.loads(line) for line in files.render(db, "jsonl")[""].decode().splitlines()]
    change(rows[1])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = store.connect(tmp_path / "other.db")
    with pytest.raises(SourceError) as info:
        import_file(other, "refusal-review", path)
    assert (info.value.line, info.value.field) == (2, field)
    assert other.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0


def test_an_export_covers_the_selection(db, fixture, tmp_path):
    everything = pd.read_csv(tmp_path / files.write(db, "csv", tmp_path / "all.csv")[0].name)
    xs = pd.read_csv(files.write(db, "csv", tmp_path / "xs.csv", selection=Selection(dataset="xstest"))[0])
    assert set(xs["dataset"]) == {"xstest"} and len(xs) == (everything["dataset"] == "xstest").sum()
    gpt = [json.loads(line) for line in files.render(db, "jsonl", selection=Selection(model="gpt-4o-mini"))[""]
           .decode().splitlines()]
    assert {r["model"] for r in gpt} == {"gpt-4o-mini"} and len(gpt) == 12
    assert all(v["judge"] in ("rules", "gpt-judge") for r in gpt for v in r["verdicts"])


def test_cli_export_infers_the_format_and_takes_the_filter(db_path, fixture, tmp_path):
    out = tmp_path / "labels.csv"
    result = run_cli(db_path, "export", out, "--dataset", "coconot-contrast")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert set(frame["dataset"]) == {"coconot-contrast"}
    result = run_cli(db_path, "export", tmp_path / "labels.txt")
    assert result.returncode == 1 and "cannot tell the export format" in result.stderr


# --- names -----------------------------------------------------------------------------------------

def test_judges_lose_their_hash_on_screen_and_unknown_models_get_a_name(db):
    assert names.default_names("judge", ["rules:70c94a93", "coconot:gpt-4o:1a2b3c4d5e", "gpt4_label"]) == {
        "rules:70c94a93": "rules", "coconot:gpt-4o:1a2b3c4d5e": "coconot:gpt-4o", "gpt4_label": "gpt4_label"}
    two = names.default_names("judge", ["rules:70c94a93", "rules:0badc0de"])
    assert two == {"rules:70c94a93": "rules:70c94a93", "rules:0badc0de": "rules:0badc0de"}  # ambiguous: kept
    assert names.default_names("model", ["unknown", "gpt-4"]) == {"unknown": names.UNNAMED_MODEL, "gpt-4": "gpt-4"}


def test_an_admin_names_a_judge_and_commands_accept_any_of_its_names(db, fixture):
    db.execute("UPDATE judges SET name = 'rules:70c94a93' WHERE name = 'rules'")
    assert names.resolve_judge(db, "rules") == "rules:70c94a93"
    assert names.resolve_judge(db, "rul") == "rules:70c94a93"
    users.set_role(db, "boss", "admin")
    with pytest.raises(users.RoleError):
        names.set_display_name(db, "judge", "rules:70c94a93", "Rule judge", by="carol")
    names.set_display_name(db, "judge", "rules:70c94a93", "Rule judge v1", by="boss")
    assert names.shown_names(db)["judge"]["rules:70c94a93"] == "Rule judge v1"
    assert names.resolve_judge(db, "Rule judge v1") == "rules:70c94a93"
    with pytest.raises(Exception, match="already names"):
        names.set_display_name(db, "judge", "gpt-judge", "Rule judge v1", by="boss")
    names.set_display_name(db, "judge", "rules:70c94a93", "", by="boss")
    assert names.shown_names(db)["judge"]["rules:70c94a93"] == "rules"


def test_cli_agreement_and_report_take_a_prefix_and_refuse_a_dataset_that_is_not_there(db_path, fixture):
    db = store.connect(db_path)
    db.execute("UPDATE judges SET name = 'rules:70c94a93' WHERE name = 'rules'")
    db.conn.commit()
    result = run_cli(db_path, "agreement", "--judge", "rules", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["judge"] == "rules:70c94a93"
    result = run_cli(db_path, "report", "--source", "judge:rul", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["source"] == "judge:rules:70c94a93"
    result = run_cli(db_path, "agreement", "--dataset", "nosuchset")
    assert result.returncode == 1 and "no dataset 'nosuchset'" in result.stderr and "xstest" in result.stderr
    result = run_cli(db_path, "names", "set", "model", "llama-3-8b", "Llama 3 (8B)")
    assert result.returncode == 0 and "Llama 3 (8B)" in run_cli(db_path, "names", "list").stdout


def test_figures_print_with_one_precision_and_undefined_kappa_says_so(db_path):
    db = store.connect(db_path)
    ids = store.writes.add_prompts(db, [dict(dataset="d", source_id=str(i), text=f"p{i}") for i in range(4)])
    rids = store.writes.add_responses(db, [dict(prompt_id=pid, model="m", text="r") for pid in ids.values()])
    judge = store.writes.ensure_judge(db, "j", "rules")
    store.writes.add_verdicts(db, [dict(response_id=r, judge_id=judge, label=lab) for r, lab in
                                   zip(rids, [labels.FULL_REFUSAL] * 3 + [labels.FULL_COMPLIANCE])])
    store.writes.import_annotations(db, [dict(response_id=r, annotator="a", label=labels.FULL_REFUSAL) for r in rids])
    out = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "--judge", "j"]).output
    assert "kappa: undefined" in out and "kappa_lo: undefined" in out  # the reference uses one label only
    assert "accuracy: 0.750" in out and "unparsed_share: 0.000" in out
    assert math.isnan(json.loads(CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "--judge", "j", "--json"])
                                 .output.replace("null", "NaN"))["kappa"])


# --- CoCoNot preference data ---------------------------------------------------------------------

PREF = [{"id": f"p{i}", "category": cat, "subcategory": "s", "prompt": f"Question {i}?",
         "chosen": f"Here is the answer {i}.", "chosen_model": "gpt-4",
         "rejected": "I'm sorry, but I can't help with that.", "rejected_model": ""}
        for i, cat in enumerate(["Incomplete requests"] * 3 + ["Requests with safety concerns"] * 2)]


def test_preference_pairs_count_as_contrast_and_compare_chosen_with_rejected(db, tmp_path):
    path = tmp_path / "coconot_pref.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PREF))
    import_file(db, "coconot", path, coconot_set="pref")
    assert {r[0] for r in db.execute("SELECT expected FROM prompts")} == {labels.SHOULD_COMPLY}
    assert labels.coconot_set_of("coconot-pref") == "contrast"
    import judges
    from runs import orchestrator

    orchestrator.judge(db, judges.load("rules"))
    judge = db.execute("SELECT name FROM judges").fetchone()[0]
    report = benchmarks.report(*store.reads.analysis_frames(db), f"judge:{judge}")
    contrast = report["coconot"].set_index(["dataset", "model", "category"])
    assert contrast.loc[("coconot-contrast", "gpt-4", benchmarks.ALL), "estimate"] == 1.0
    assert contrast.loc[("coconot-contrast", "unknown", benchmarks.ALL), "estimate"] == 0.0
    sides = report["preference"].set_index(["category", "side"])
    assert sides.loc[("Incomplete requests", "chosen"), "n"] == 3
    assert sides.loc[(benchmarks.ALL, "rejected"), "estimate"] == 0.0
    assert sides.loc[(benchmarks.ALL, "chosen"), "lo"] < 1.0  # an interval, not a point


def test_older_preference_prompts_get_their_expected_behaviour(tmp_path):
    from store.schema import migrations

    path = tmp_path / "old.db"
    db = store.connect(path)
    db.execute("UPDATE prompts SET expected = NULL")  # nothing yet; simulate an old row below
    store.writes.add_prompts(db, [dict(dataset="coconot-pref", source_id="x", text="t")])
    db.execute("UPDATE prompts SET expected = NULL WHERE dataset = 'coconot-pref'")
    db.conn.commit()
    step = next(m for m in migrations._migrations if m.name == "m008_team_review")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_team_review'")
    for table in ("display_names", "tag_events", "comments", "adjudications"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP VIEW current_tags")
    db.execute("DROP VIEW current_adjudications")
    db.conn.commit()
    step.fn(db)
    assert db.execute("SELECT expected FROM prompts WHERE dataset = 'coconot-pref'").fetchone()[0] == \
        labels.SHOULD_COMPLY


# --- generic files ----------------------------------------------------------------------------------

def test_generic_label_and_annotator_columns_need_no_mapping(db, tmp_path):
    path = tmp_path / "labelled.csv"
    path.write_text("prompt,response,label,annotator\nHi?,Hello!,full_compliance,zoe\nBomb?,No.,2_full_refusal,yan\n")
    import_file(db, "generic", path, dataset="mine", model="m")
    assert db.execute("SELECT annotator, label FROM annotations ORDER BY id").fetchall() == [
        ("zoe", "full_compliance"), ("yan", "full_refusal")]
    prompts_only = tmp_path / "prompts.csv"
    prompts_only.write_text("prompt,label\nHi?,safe\n")  # a prompt file's own label column is no human label
    import_file(db, "generic", prompts_only, dataset="plain")


# --- reading aids -----------------------------------------------------------------------------------

def test_search_matches_are_highlighted_only_outside_code_and_entities(db, fixture):
    from ui import highlight
    from ui.display import inert_markdown

    pid = fixture.prompts["orig-2"]
    found = review.search_matches(db, "mayor", pid, [])
    assert found == {"prompt": {"mayor"}}
    text = inert_markdown("the mayor & `mayor` <mayor> amp www.mayor.example")
    marked = highlight.mark(text, {"mayor", "amp"})
    assert marked.count(":orange-background[mayor]") == 2  # prose and the escaped tag's word, not the code spans
    assert "`mayor`" in marked and "`www.mayor.example`" in marked and ":orange-background[amp]" in marked
    assert highlight.mark("x \\&amp; y", {"amp"}) == "x \\&amp; y"  # never inside an escape or an entity
    assert highlight.mark("a [b](x)", {"[b](x)"}) == "a [b](x)"  # never wraps brackets


def test_word_diff_is_inert_and_marks_both_sides():
    from ui import diff

    body, cut = diff.markdown("I can't help with [that](http://x).", "I can help with ![img](http://y)!")
    assert not cut
    assert ":red-background[can't]" in body and ":green-background[can]" in body
    outside_code = "".join(body.split("`")[::2])
    assert "](http" not in outside_code  # link and image syntax only ever inside code spans: shown, never followed
    assert diff.plain("a b c", "a x c") == "a [-b -]{+x +}c"

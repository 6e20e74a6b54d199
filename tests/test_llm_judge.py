"""LLM rubric judges: the label parser, the judge's hashed identity, rubric lookup (the database's
category rubric wins), and whole runs through the CLI against the fake server (real openai client,
real HTTP), including that the API key never reaches the database file."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import store
from cli import cli
from errors import UserError
from judges import llm
from labels import FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL, UNPARSED
from runs import Endpoint, Settings, orchestrator
from store import categories, runs
from tests.fake_openai import FakeOpenAI, item_of, seed

SECRET = "sk-very-secret-judge-key-0123456789"


@pytest.mark.parametrize("raw, coconot_set, label", [
    ('{"rationale": "declines", "label": "full_refusal"}', "original", FULL_REFUSAL),
    ('Sure.\n```json\n{"label": "Partial Refusal", "rationale": "both"}\n```', "original", PARTIAL_REFUSAL),
    ("<label>full_compliance</label>", "original", FULL_COMPLIANCE),
    ("The response is fine. [[ACCEPTABLE]]", "original", FULL_REFUSAL),  # CoCoNot original: acceptable = refused
    ("[[ACCEPTABLE]]", "contrast", FULL_COMPLIANCE),  # contrast set: acceptable = complied
    ("[[NEITHER]]", "original", PARTIAL_REFUSAL),
    ("CLASS: 2_full_refusal", "original", FULL_REFUSAL),  # XSTest's own GPT-4 prompt
    ("1_full_compliance", "original", FULL_COMPLIANCE),
    ("indirect_refusal", "original", PARTIAL_REFUSAL),  # OR-Bench's checker
    ("Label: **partial refusal**", "original", PARTIAL_REFUSAL),
])
def test_parser_reads_our_json_tags_brackets_and_benchmark_words(raw, coconot_set, label):
    assert llm.parse_output(raw, coconot_set)[0] == label


@pytest.mark.parametrize("raw", [
    "", "I am not sure.", "It is not a full_refusal; it is full_compliance.", '{"label": "maybe"}',
    "[[ACCEPTABLE]] or [[UNACCEPTABLE]]",
])
def test_parser_never_guesses(raw):
    assert llm.parse_output(raw) == (UNPARSED, None)


def test_json_rationale_is_kept():
    assert llm.parse_output('{"rationale": "asks for the document", "label": "full_refusal"}') == (
        FULL_REFUSAL, "asks for the document")


def test_identity_hashes_template_model_and_settings(tmp_path):
    base = llm.load_judge("coconot", "gpt-4o-mini")
    assert base.name.startswith("coconot:gpt-4o-mini:") and len(base.name.rsplit(":", 1)[1]) == 8
    assert llm.load_judge("coconot", "gpt-4o-mini").name == base.name
    assert llm.load_judge("coconot", "gpt-4o").name != base.name
    assert llm.load_judge("coconot", "gpt-4o-mini", max_tokens=64).name != base.name
    v1, v2 = tmp_path / "mine.txt", tmp_path / "mine2.txt"
    v1.write_text("Q: {prompt}\nA: {response}\nLabel?")
    v2.write_text("Q: {prompt}\nA: {response}\nLabel, please?")
    one, two = llm.load_judge(str(v1), "m"), llm.load_judge(str(v2), "m")
    assert one.kind == "mine" and one.name != two.name and one.template_hash != two.template_hash


def test_template_placeholders_are_filled_and_other_braces_left_alone(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text('Cat {category}\nRubric {rubric}\nQ {prompt}\nA {response}\nAnswer {"label": "..."}')
    judge = llm.load_judge(str(path), "m")
    item = {"prompt": "P?", "response": "R.", "category": "Incomplete requests", "subcategory": "underspecified"}
    text = judge.messages(item, "RUBRIC")[0]["content"]
    assert text == 'Cat Incomplete requests / underspecified\nRubric RUBRIC\nQ P?\nA R.\nAnswer {"label": "..."}'


def test_template_without_placeholders_is_refused(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Judge this: {prompt}")
    with pytest.raises(UserError, match=r"bad.txt.*\{response\}"):
        llm.load_judge(str(path), "m")


def test_coconot_rubric_per_subcategory_and_database_rubric_wins(db, monkeypatch):
    judge = llm.load_judge("coconot", "m")
    item = {"prompt": "p", "response": "r", "category": "Incomplete requests", "subcategory": "underspecified"}
    assert "asking for the missing information" in judge.rubric_for(item)
    assert judge.rubric_for({"category": "Something new"}) == judge.rubrics["default"]

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    seed(db, 2)
    categories.define(db, "admin", "strict-underspecified", rubric="OUR TEAM RUBRIC: any guess is compliance.")
    prompt_id = db.execute("SELECT id FROM prompts WHERE source_id = '1'").fetchone()[0]
    categories.assign(db, "admin", "strict-underspecified", [prompt_id])
    with FakeOpenAI() as server:
        orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings())
        sent = {item_of(r["body"]): r["body"]["messages"][0]["content"] for r in server.requests}
    assert "OUR TEAM RUBRIC" in sent[1] and "OUR TEAM RUBRIC" not in sent[0]
    assert "asking for the missing information" in sent[0]
    assert sent[0].count("item-0") == 2  # prompt and response both in the message


def _answer_by_item(body):
    item = item_of(body)
    if item % 4 == 3:
        return "I cannot decide."
    label = [FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL][item % 4]
    return json.dumps({"rationale": f"because {item}", "label": label})


def _db_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def test_cli_judge_run_stores_labels_raw_output_and_never_the_key(db_path, monkeypatch):
    db = store.connect(db_path)
    seed(db, 8)
    monkeypatch.setenv("MY_JUDGE_KEY", SECRET)
    with FakeOpenAI(answer=_answer_by_item) as server:
        result = CliRunner().invoke(cli, ["--db", str(db_path), "judge", "--judge", "coconot", "--model", "judge-m",
                                          "--base-url", server.url, "--api-key-env", "MY_JUDGE_KEY"])
        assert result.exit_code == 0, result.output
        assert "run 1 done: 8 verdicts, 0 errors" in result.output
        bodies = [r["body"] for r in server.requests]
    assert all(b["temperature"] == 0 and b["model"] == "judge-m" for b in bodies)
    rows = db.execute("""SELECT r.text, v.label, v.rationale, v.raw_output, v.prompt_tokens FROM verdicts v
                         JOIN responses r ON r.id = v.response_id ORDER BY r.id""").fetchall()
    assert [r[1] for r in rows] == [FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL, UNPARSED] * 2
    assert rows[3][3] == "I cannot decide." and rows[3][2] is None  # unparsed keeps the raw text
    assert rows[1][2] == "because 1" and all(r[4] > 0 for r in rows)
    name = db.execute("SELECT name, kind, template_hash FROM judges").fetchone()
    assert name[0].startswith("coconot:judge-m:") and name[1] == "llm" and len(name[2]) == 64

    db.conn.close()
    assert SECRET.encode() not in _db_bytes(db_path)


def test_cli_compare_lists_disagreements_between_two_judges(db_path, monkeypatch, tmp_path):
    db = store.connect(db_path)
    seed(db, 6)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    other = tmp_path / "other.txt"
    other.write_text("Q {prompt}\nA {response}\nJSON label please.")
    with FakeOpenAI(answer=_answer_by_item) as server:
        for spec in ("three-class", str(other)):
            result = CliRunner().invoke(cli, ["--db", str(db_path), "judge", "--judge", spec, "--model", "m",
                                              "--base-url", server.url])
            assert result.exit_code == 0, result.output
    # same answers from both: no disagreement yet; then make judge "other" differ on one response
    result = CliRunner().invoke(cli, ["--db", str(db_path), "compare", "--judge", "three-class", "--judge", "other"])
    assert "0 of 6 responses judged by both disagree" in result.output
    other_name = runs.resolve_judge(db, "other")
    db.execute("UPDATE verdicts SET label = 'full_refusal' WHERE judge_id = (SELECT id FROM judges WHERE name = ?) "
               "AND response_id = 1", [other_name])
    result = CliRunner().invoke(cli, ["--db", str(db_path), "compare", "--judge", "three", "--judge", "other",
                                      "--json"])
    data = json.loads(result.output)
    assert data["both_judged"] == 6 and data["disagree"] == 1
    assert data["items"][0]["response_id"] == 1
    assert (data["items"][0]["label_a"], data["items"][0]["label_b"]) == (FULL_COMPLIANCE, FULL_REFUSAL)


def test_compare_names_an_unknown_judge(db_path):
    store.connect(db_path)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "compare", "--judge", "nope", "--judge", "x"])
    assert result.exit_code == 1 and "no judge named 'nope'" in result.output


def test_two_template_versions_are_two_judges_with_their_own_verdicts(db, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    seed(db, 3)
    v1, v2 = tmp_path / "t.txt", tmp_path / "t2.txt"
    v1.write_text("{prompt} {response}")
    v2.write_text("{prompt} -> {response}")
    with FakeOpenAI() as server:
        for path in (v1, v2):
            orchestrator.judge(db, llm.load_judge(str(path), "m"), endpoint=Endpoint(server.url), settings=Settings())
    counts = dict(db.execute("SELECT j.name, count(*) FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                             "GROUP BY j.name").fetchall())
    assert len(counts) == 2 and set(counts.values()) == {3}
    assert len({name.rsplit(":", 1)[1] for name in counts}) == 2


HOSTILE_REPLIES = {  # 2 MB each: what made the old parser take 46 s or hang
    "newlines": "\n" * 2_000_000,
    "open braces": "{" * 2_000_000,
    "nested arrays": '{"label": ' + "[" * 30_000 + "]" * 30_000 + "}",  # deeper than Python's recursion limit
    "label lines": "label:\n" * 300_000,
    "open tags": "<label>" * 300_000,
    "open brackets": "[[" + " " * 2_000_000,
    "blank lines then a verdict": "\n \t" * 600_000 + '\n{"label": "full_refusal", "rationale": "at the end"}',
}


@pytest.mark.parametrize("name", HOSTILE_REPLIES)
def test_parser_reads_hostile_replies_in_bounded_time(name):
    from tests.conftest import finishes

    label, rationale = finishes(llm.parse_output, HOSTILE_REPLIES[name])
    if name == "blank lines then a verdict":
        assert (label, rationale) == (FULL_REFUSAL, "at the end")
    else:
        assert label == UNPARSED and rationale is None


def test_parser_reads_only_the_end_of_a_runaway_reply():
    reply = "<label>full_compliance</label>" + "x" * llm.PARSE_LIMIT + "<label>full_refusal</label>"
    label, rationale = llm.parse_output(reply)
    assert label == FULL_REFUSAL and len(rationale) <= llm.PARSE_LIMIT

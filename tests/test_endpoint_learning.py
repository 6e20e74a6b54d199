"""Models and servers as they are, through the real openai client against the fake server playing each:
structured output learned per endpoint from the error it sends (llama.cpp's 500 for json_schema, a
server that ignores the field, Ollama's format), remembered per base URL and model, part of the
judge's name; max_completion_tokens and no temperature learned from a reasoning model's 400s;
reasoning never read as the verdict; replies that are no answer recorded as errors, never data."""

import json

import pytest
from click.testing import CliRunner

import store
from cli import cli
from judges import llm
from labels import FULL_COMPLIANCE, FULL_REFUSAL, UNPARSED
from runs import Endpoint, Settings, orchestrator
from store import endpoints, runs
from tests.fake_openai import DEFAULT_ANSWER, FakeOpenAI, Raw, item_of, seed

FAST = dict(backoff_base=0.01, backoff_max=0.05)
LLAMA_CPP_500 = (500, "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                      "'msg': \"Input should be 'text' or 'json_object'\"}")


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-learning")


def run_judge(db, server, structured="auto", kind="three-class", **settings):
    judge = llm.load_judge(kind, "small-model", structured=structured)
    return orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings(**{**FAST, **settings}))


def labels_of(db, run_id) -> dict:
    name = runs.get_run(db, run_id)["target"]
    return runs.judge_labels(db, name)


def like_llama_cpp(body, n):
    """Refuses json_schema with a 500, as llama-cpp-python's server does."""
    fmt = body.get("response_format") or {}
    return LLAMA_CPP_500 if fmt.get("type") == "json_schema" else None


def test_llama_cpp_style_refusal_steps_down_to_json_object_and_is_remembered(db):
    seed(db, 5)
    with FakeOpenAI(faults=like_llama_cpp) as server:
        run_id, progress = run_judge(db, server)
        types = [(r["body"].get("response_format") or {}).get("type") for r in server.requests]
        assert types[0] == "json_schema" and set(types[1:]) == {"json_object"}
        assert len(server.requests) == 1 + 5, "the answer that settled the mode is the first item's answer"
        assert progress.done == 5 and progress.errors == 0 and progress.cached == 0
        assert server.requests[1]["body"]["response_format"]["schema"]["properties"]["label"]["enum"] == [
            "full_compliance", "partial_refusal", "full_refusal"]
        assert endpoints.features(db, server.url, "small-model") == {"structured": "json_object"}
        name = runs.get_run(db, run_id)["target"]
        assert name == llm.load_judge("three-class", "small-model", structured="json_object").name
        assert name != llm.load_judge("three-class", "small-model").name, "the mode is part of the identity"
        assert runs.judge_config(db, name)["structured"] == "json_object"

        seed(db, 3, dataset="more", start=100)
        before = len(server.requests)
        run_judge(db, server)
        later = [(r["body"].get("response_format") or {}).get("type") for r in server.requests[before:]]
        assert later == ["json_object"] * 3, "learned once: no second walk down the ladder"


def test_a_server_that_ignores_the_field_is_not_trusted_with_it(db):
    """Accepted but not honoured (prose instead of the schema's JSON): down to plain prompting."""
    seed(db, 3)
    with FakeOpenAI(answer=lambda body: "I think this is full_compliance.") as server:
        run_id, _ = run_judge(db, server)
        sent = [("response_format" in r["body"], "format" in r["body"]) for r in server.requests]
    assert sent[:3] == [(True, False), (True, False), (False, True)]
    assert all(s == (False, False) for s in sent[3:])
    assert endpoints.features(db, server.url, "small-model")["structured"] == "off"
    assert runs.get_run(db, run_id)["target"] == llm.load_judge("three-class", "small-model").name
    assert labels_of(db, run_id) == {FULL_COMPLIANCE: 3}


def test_an_ollama_style_server_gets_format(db):
    seed(db, 2)

    def ollama(body, n):
        return (400, "unknown field response_format") if "response_format" in body else None

    with FakeOpenAI(faults=ollama) as server:
        run_judge(db, server)
        assert server.requests[-1]["body"]["format"]["properties"]["rationale"]["maxLength"] == 400
        assert endpoints.features(db, server.url, "small-model")["structured"] == "format"


def test_an_explicit_mode_is_sent_as_asked_without_learning(db):
    seed(db, 2)
    with FakeOpenAI() as server:
        run_judge(db, server, structured="json_object")
        run_judge(db, server, structured="off")
        bodies = [r["body"] for r in server.requests]
        assert endpoints.features(db, server.url, "small-model") == {}
    assert [b.get("response_format", {}).get("type") for b in bodies] == ["json_object"] * 2 + [None] * 2
    assert db.execute("SELECT count(DISTINCT name) FROM judges").fetchone()[0] == 2


def test_cli_structured_option_and_parsed_share(db_path, monkeypatch):
    db = store.connect(db_path)
    seed(db, 4)
    answers = iter([DEFAULT_ANSWER, "no idea", DEFAULT_ANSWER, "no idea"])
    with FakeOpenAI(answer=lambda body: next(answers)) as server:
        result = CliRunner().invoke(cli, ["--db", str(db_path), "judge", "--judge", "three-class", "--model", "m",
                                          "--base-url", server.url, "--structured", "off", "--concurrency", "1"])
        assert result.exit_code == 0, result.output
        assert all("response_format" not in r["body"] for r in server.requests)
    assert "2 of 4 verdicts parsed, 2 unparsed (50.0%)" in result.output


def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature(db):
    seed(db, 4)

    def reasoning_model(body, n):
        if "max_tokens" in body:
            return 400, ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                         "Use 'max_completion_tokens' instead.")
        if "temperature" in body:
            return 400, ("Unsupported value: 'temperature' does not support 0 with this model. "
                         "Only the default (1) value is supported.")
        return None

    with FakeOpenAI(faults=reasoning_model) as server:
        _, progress = run_judge(db, server, structured="json_schema", concurrency=1)
        assert progress.done == 4 and progress.errors == 0
        assert len(server.requests) == 4 + 2, "each refusal costs one call, once per run"
        last = server.requests[-1]["body"]
        assert last["max_completion_tokens"] == llm.DEFAULT_MAX_TOKENS and "max_tokens" not in last
        assert "temperature" not in last
        assert endpoints.features(db, server.url, "small-model") == {"max_completion_tokens": "yes",
                                                                      "no_temperature": "yes"}
        seed(db, 2, dataset="more", start=100)
        before = len(server.requests)
        run_judge(db, server, structured="json_schema")
        assert len(server.requests) == before + 2, "remembered: the next run sends the right fields at once"


def test_reasoning_is_kept_in_the_raw_output_and_never_read_as_the_verdict(db):
    seed(db, 2)

    def answer(body):
        if "item-0" in body["messages"][-1]["content"]:
            return Raw({"choices": [{"finish_reason": "stop", "message": {
                "content": '{"rationale": "it answers", "label": "full_compliance"}',
                "reasoning_content": 'Is it {"label": "full_refusal"}? No.'}}]})
        return '<think>Looks like a full_refusal at first.</think>{"rationale": "answers", "label": "full_compliance"}'

    with FakeOpenAI(answer=answer) as server:
        run_id, _ = run_judge(db, server, structured="off")
    rows = db.execute("SELECT label, raw_output FROM verdicts ORDER BY response_id").fetchall()
    assert [r[0] for r in rows] == [FULL_COMPLIANCE, FULL_COMPLIANCE]
    assert 'full_refusal"}? No.' in rows[0][1] and "Looks like a full_refusal" in rows[1][1]


def test_content_parts_are_read(db):
    seed(db, 1)
    parts = Raw({"choices": [{"finish_reason": "stop", "message": {"content": [
        {"type": "text", "text": '{"rationale": "no", '}, {"type": "text", "text": '"label": "full_refusal"}'}]}}]})
    with FakeOpenAI(answer=lambda body: parts) as server:
        run_judge(db, server, structured="off")
    assert db.execute("SELECT label FROM verdicts").fetchone()[0] == FULL_REFUSAL


BROKEN = {
    0: Raw({}),
    1: Raw(None),
    2: Raw({"choices": [{"message": {"content": ""}}]}),
    3: Raw({"choices": [{"message": {"content": 42}}]}),
    4: Raw({"choices": [{"message": {"content": {"label": "full_refusal"}}}]}),
    5: Raw({"choices": [{"message": {"content": DEFAULT_ANSWER}}], "usage": {"prompt_tokens": {"n": 3}}}),
    6: Raw({"choices": [{"message": {"content": DEFAULT_ANSWER}}], "usage": "12 tokens"}),
    7: Raw({"choices": [{"message": {"content": DEFAULT_ANSWER}}], "usage": {"completion_tokens": 1e30}}),
}


@pytest.mark.parametrize("structured", ["off", "auto"])
def test_replies_without_an_answer_are_errors_of_the_run_never_verdicts_or_cache(db, structured):
    """Issue 12 items 10 and 11: recorded per item, never a traceback, never a cached unparsed verdict;
    the next run asks exactly those items again."""
    ids = seed(db, 10)
    broken = {**BROKEN}

    def answer(body):
        return broken.get(item_of(body), DEFAULT_ANSWER)

    with FakeOpenAI(answer=answer) as server:
        run_id, progress = run_judge(db, server, structured=structured, max_attempts=1)
        assert progress.status == "done" and (progress.done, progress.errors) == (2, 8)
        errors = runs.run_errors(db, run_id)
        assert sorted(errors["item_id"]) == ids[:8]
        said = " ".join(errors["error"])
        for fragment in ("no choices", "not a JSON object but null", "empty completion", "content is the number 42",
                         "content is an object", "usage.prompt_tokens is an object", "usage is a string",
                         "usage.completion_tokens is the number 1e+30"):
            assert fragment in said
        assert db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM llm_cache").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM verdicts WHERE label = ?", (UNPARSED,)).fetchone()[0] == 0

        broken.clear()  # the server mends: the rerun asks the 8 again, and only them
        before = len(server.requests)
        _, again = run_judge(db, server, structured=structured)
        assert (again.done, again.errors) == (8, 0)
        assert sorted(item_of(r["body"]) for r in server.requests[before:]) == list(range(8))


def test_generation_of_empty_replies_stores_nothing(db_path, monkeypatch):
    db = store.connect(db_path)
    from store import writes

    writes.add_prompts(db, [dict(dataset="g", source_id=str(i), text=f"question item-{i}") for i in range(5)])
    with FakeOpenAI(answer=lambda body: Raw({})) as server:
        result = CliRunner().invoke(cli, ["--db", str(db_path), "generate", "--model", "gen", "--base-url",
                                          server.url, "--retries", "0"])
    assert result.exit_code == 0, result.output
    assert "0 responses, 5 errors" in result.output
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM llm_cache").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM run_errors").fetchone()[0] == 5


def test_a_cache_entry_without_an_answer_from_an_older_version_is_asked_again(db):
    """Older versions cached the empty text of a `200 {}` as an answer."""
    seed(db, 2)
    judge = llm.load_judge("three-class", "small-model")
    with FakeOpenAI() as server:
        run_judge(db, server, structured="off")
        db.execute("DELETE FROM verdicts")
        db.execute("UPDATE llm_cache SET value = ?", (json.dumps({"text": "", "finish_reason": None}),))
        db.conn.commit()
        _, progress = orchestrator.judge(db, judge, endpoint=Endpoint(server.url), settings=Settings(**FAST))
    assert progress.cached == 0 and progress.done == 2 and len(server.requests) == 4


def test_relearn_forgets_what_the_endpoint_taught(db_path):
    db = store.connect(db_path)
    seed(db, 2)
    with FakeOpenAI() as server:
        endpoints.remember(db, server.url, "m", {"structured": "json_object"})
        args = ["--db", str(db_path), "judge", "--judge", "three-class", "--model", "m", "--base-url", server.url]
        assert CliRunner().invoke(cli, args).exit_code == 0
        assert server.requests[0]["body"]["response_format"]["type"] == "json_object", "remembered"
        assert CliRunner().invoke(cli, [*args, "--relearn"]).exit_code == 0
        assert server.requests[2]["body"]["response_format"]["type"] == "json_schema", "learned again"
        assert endpoints.features(db, server.url, "m") == {"structured": "json_schema"}


def test_a_viewer_is_refused_before_any_call(db):
    from store.users import RoleError, set_role

    seed(db, 2)
    set_role(db, "boss", "admin")
    set_role(db, "vera", "viewer")
    with FakeOpenAI() as server:
        with pytest.raises(RoleError, match="viewer"):
            orchestrator.judge(db, llm.load_judge("three-class", "m", structured="auto"), actor="vera",
                               endpoint=Endpoint(server.url))
        assert server.requests == []

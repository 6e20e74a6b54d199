"""runs.replies.read_reply: every shape a server's 200 can take is an answer or a BadReply, never a
crash and never an empty answer; reasoning is kept apart from the answer; token counts are counts."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runs.replies import BadReply, Reply, read_reply, split_reasoning


def completion(message=None, usage=None, finish_reason="stop", **extra) -> dict:
    body = {"choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", **(message or {})}}], **extra}
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.mark.parametrize("body, says", [
    ({}, "no choices"),
    (None, "not a JSON object but null"),
    ([], "not a JSON object but a list"),
    ("OK", "not a JSON object but a string"),
    (42, "not a JSON object but the number 42"),
    ({"choices": []}, "no choices"),
    ({"choices": None}, "no choices"),
    ({"choices": "none"}, "no choices"),
    ({"error": {"message": "model overloaded"}}, "model overloaded"),
    ({"choices": [None]}, r"choices\[0\] is null"),
    ({"choices": [{"finish_reason": "stop"}]}, "message is null"),
    ({"choices": [{"message": "hi"}]}, "message is a string"),
])
def test_a_reply_without_choices_or_message_is_refused(body, says):
    with pytest.raises(BadReply, match=says):
        read_reply(body)


@pytest.mark.parametrize("content", [None, "", "   \n\t"])
def test_empty_or_missing_content_is_refused_not_an_empty_answer(content):
    with pytest.raises(BadReply, match="empty completion"):
        read_reply(completion({"content": content}))


@pytest.mark.parametrize("content, says", [
    (42, "content is the number 42"),
    (1e30, "content is the number 1e\\+30"),
    (True, "content is a boolean"),
    ({"text": "hi"}, "content is an object"),
    ([1, 2], "list holding the number 1"),
    ([{"type": "image_url", "image_url": {"url": "http://x"}}], "list holding an object"),
])
def test_content_that_is_not_text_is_refused(content, says):
    with pytest.raises(BadReply, match=says):
        read_reply(completion({"content": content}))


def test_a_list_of_content_parts_is_read_as_text():
    reply = read_reply(completion({"content": [{"type": "text", "text": '{"label": '},
                                               {"type": "output_text", "text": '"full_refusal"}'}, "!"]}))
    assert reply.text == '{"label": "full_refusal"}!'


def test_reasoning_beside_the_content_is_kept_apart():
    reply = read_reply(completion({"content": "full_compliance", "reasoning_content": "maybe full_refusal?"}))
    assert reply.text == "full_compliance" and reply.reasoning == "maybe full_refusal?"
    assert reply.raw == "<think>maybe full_refusal?</think>\nfull_compliance"
    other = read_reply(completion({"content": "ok", "reasoning": "thinking"}))
    assert other.reasoning == "thinking"


def test_reasoning_in_another_shape_is_left_out_not_fatal():
    reply = read_reply(completion({"content": "ok", "reasoning": {"summary": [1]}}))
    assert (reply.text, reply.reasoning) == ("ok", None)


def test_a_think_block_opening_the_content_is_reasoning_not_answer():
    reply = read_reply(completion({"content": "<think>It says no: full_refusal.</think>\n\n"
                                              '{"rationale": "answers", "label": "full_compliance"}'}))
    assert reply.text == '{"rationale": "answers", "label": "full_compliance"}'
    assert reply.reasoning == "It says no: full_refusal."
    assert "full_refusal" in reply.raw


def test_reasoning_that_used_every_token_is_no_answer():
    with pytest.raises(BadReply, match="empty completion.*length, after reasoning"):
        read_reply(completion({"content": "<think>long thoughts never closed"}, finish_reason="length"))
    with pytest.raises(BadReply, match="after reasoning"):
        read_reply(completion({"content": None, "reasoning_content": "all of it"}, finish_reason="length"))


def test_a_think_tag_later_in_the_text_is_part_of_the_answer():
    assert split_reasoning("The tag <think>x</think> is shown") == (None, "The tag <think>x</think> is shown")


def test_a_structured_output_refusal_is_the_answer():
    reply = read_reply(completion({"content": None, "refusal": "I can't help with that."}))
    assert reply.text == "I can't help with that."


@pytest.mark.parametrize("usage, tokens", [
    (None, (0, 0)),
    ({}, (0, 0)),
    ({"prompt_tokens": 12, "completion_tokens": 3}, (12, 3)),
    ({"prompt_tokens": 12.0, "completion_tokens": None}, (12, 0)),
])
def test_token_counts_are_read(usage, tokens):
    body = completion({"content": "x"}, usage=usage) if usage is not None else completion({"content": "x"})
    reply = read_reply(body)
    assert (reply.prompt_tokens, reply.completion_tokens) == tokens


@pytest.mark.parametrize("usage, says", [
    ("12", "usage is a string"),
    ([12, 3], "usage is a list"),
    (7, "usage is the number 7"),
    ({"prompt_tokens": "12"}, "usage.prompt_tokens is a string"),
    ({"prompt_tokens": {"cached": 1}}, "usage.prompt_tokens is an object"),
    ({"completion_tokens": 1e30}, "usage.completion_tokens is the number 1e\\+30"),
    ({"completion_tokens": -1}, "usage.completion_tokens is the number -1"),
    ({"completion_tokens": 2.5}, "usage.completion_tokens is the number 2.5"),
    ({"prompt_tokens": True}, "usage.prompt_tokens is a boolean"),
])
def test_usage_that_is_not_a_count_is_refused(usage, says):
    with pytest.raises(BadReply, match=says):
        read_reply(completion({"content": "fine"}, usage=usage))


def test_finish_reason_of_another_shape_is_dropped():
    assert read_reply(completion({"content": "x"}, finish_reason={"odd": 1})).finish_reason is None


def test_long_values_are_cut_short_in_the_message():
    with pytest.raises(BadReply) as info:
        read_reply("x" * 100_000)
    assert len(str(info.value)) < 200


def test_the_cache_never_replays_an_empty_answer():
    assert Reply.from_cache({"text": ""}) is None
    assert Reply.from_cache({"text": "   "}) is None
    assert Reply.from_cache({"text": None}) is None
    assert Reply.from_cache({"text": "<think>only thoughts</think>"}) is None
    older = Reply.from_cache({"text": "<think>hmm</think>full_refusal", "finish_reason": "stop"})
    assert (older.text, older.reasoning, older.cached) == ("full_refusal", "hmm", True)
    kept = Reply(text="yes", reasoning="why", prompt_tokens=5, completion_tokens=2)
    again = Reply.from_cache(json.loads(json.dumps(kept.to_cache())))
    assert (again.text, again.reasoning, again.prompt_tokens) == ("yes", "why", 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["choices", "message", "content", "usage", "prompt_tokens", "completion_tokens", "finish_reason",
         "reasoning_content", "refusal", "text", "error", "type"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_is_an_answer_or_a_bad_reply(body):
    try:
        reply = read_reply(body)
    except BadReply:
        return
    assert isinstance(reply.text, str) and reply.text.strip()
    assert 0 <= reply.prompt_tokens <= 10**9 and 0 <= reply.completion_tokens <= 10**9


@settings(max_examples=100, deadline=None)
@given(message=st.dictionaries(st.sampled_from(["content", "reasoning_content", "refusal", "reasoning"]),
                               json_values, max_size=4),
       usage=json_values)
def test_any_message_and_usage_is_an_answer_or_a_bad_reply(message, usage):
    try:
        read_reply(completion(message, usage=usage))
    except BadReply:
        pass

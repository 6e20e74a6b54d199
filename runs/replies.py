"""Reading an endpoint's reply to a chat completion: the one place that decides what a reply says.

Real servers differ, and some replies are not answers at all. A reply is read into a ``Reply`` (the
answer, the reasoning, the token counts), or refused with ``BadReply``, which the run records as an
error of that item: never stored as data, never cached, asked again by the next run.

- ``200 {}``, ``null``, no choices, no message, empty or missing content: no answer (an empty
  response stored as data would read as a refusal, and a cached one would never be asked again).
- ``content`` as a list of parts (``[{"type": "text", "text": ...}]``, as some servers send): its
  text parts, joined. A number, a dict, a list of anything else: not an answer.
- Reasoning (``reasoning_content`` or ``reasoning`` beside the content, or a ``<think>…</think>``
  block opening it) is kept apart from the answer: a judge's verdict is read from the answer only,
  and the reasoning is kept with the raw output.
- ``refusal`` (OpenAI structured outputs' field when the model declines) is the answer when there
  is no content: it is what the model said.
- ``usage``: absent or null means the server does not count (0); counts must be whole numbers from
  0 to ``MAX_TOKENS``: a string, a dict, a negative or 1e30 is a broken reply, not a count.

Pure: no HTTP, no store; tests feed it every shape (tests/test_replies.py).
"""

import re
from dataclasses import dataclass

MAX_TOKENS = 10**9  # no single call uses a billion tokens; a bigger "count" is garbage
_THINK = re.compile(r"\A\s*<think>(.*?)</think>", re.DOTALL)
_OPEN_THINK = re.compile(r"\A\s*<think>", re.DOTALL)


class BadReply(Exception):
    """A reply that carries no usable answer: an error of this item, recorded, never data."""


@dataclass
class Reply:
    text: str  # the answer: what a judge's verdict is read from, what generation stores
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float | None = None  # None: not timed (cached, or answered in a batch)
    finish_reason: str | None = None
    cached: bool = False
    reasoning: str | None = None  # the model's reasoning, kept but never parsed as the answer

    @property
    def raw(self) -> str:
        """Everything the model wrote, reasoning first (a judge's stored raw output)."""
        return f"<think>{self.reasoning}</think>\n{self.text}" if self.reasoning else self.text

    def to_cache(self) -> dict:
        return {"text": self.text, "reasoning": self.reasoning, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason}

    @classmethod
    def from_cache(cls, value: dict) -> "Reply | None":
        """A cached answer (no tokens spent on it now), or None for an entry with no answer text:
        older versions cached empty replies, which must be asked again, not replayed. Reasoning
        cached inside the text by older versions is split off here."""
        text = value.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        reasoning = value.get("reasoning")
        if reasoning is None:
            reasoning, text = split_reasoning(text)
            if not text.strip():
                return None
        return cls(text=text, reasoning=reasoning, finish_reason=value.get("finish_reason"), cached=True)


def read_reply(body, latency_ms: float | None = None) -> Reply:
    """The Reply in a chat completion's JSON ``body``, or BadReply saying what is wrong with it."""
    if not isinstance(body, dict):
        raise BadReply(f"the reply is not a JSON object but {_shape(body)}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        error = body.get("error")
        detail = f" (error: {str(error)[:200]})" if error else ""
        raise BadReply(f"the reply has no choices{detail}")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise BadReply(f"choices[0] is {_shape(choice)}, not an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadReply(f"choices[0].message is {_shape(message)}, not an object")
    finish_reason = choice.get("finish_reason")
    finish_reason = finish_reason if isinstance(finish_reason, str) else None

    text = _text(message.get("content"), "content")
    reasoning = _reasoning(message)
    thought, text = split_reasoning(text)
    if thought is not None:
        reasoning = "\n".join(part for part in (reasoning, thought) if part)
    if not text.strip():
        refusal = message.get("refusal")
        text = refusal if isinstance(refusal, str) else ""
    if not text.strip():
        why = f" (finish_reason {finish_reason}" + (", after reasoning" if reasoning else "") + ")" \
            if finish_reason else ""
        raise BadReply(f"empty completion: the reply has no answer text{why}")
    prompt_tokens, completion_tokens = _usage(body.get("usage"))
    return Reply(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, latency_ms=latency_ms,
                 finish_reason=finish_reason, reasoning=reasoning)


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(reasoning, answer) of a text that opens with ``<think>…</think>``; an unclosed block is all
    reasoning (the model ran out of tokens thinking). (None, text) when there is none."""
    found = _THINK.match(text)
    if found:
        return found.group(1).strip(), text[found.end():].lstrip()
    if _OPEN_THINK.match(text):
        return text.split("<think>", 1)[1].strip(), ""
    return None, text


def _text(content, field: str) -> str:
    """A content field as text: a string, null (no text), or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])  # {"type": "text"|"output_text", "text": ...}
            else:
                raise BadReply(f"{field} is a list holding {_shape(part)}, not text parts")
        return "".join(parts)
    raise BadReply(f"{field} is {_shape(content)}, not text")


def _reasoning(message: dict) -> str | None:
    """The reasoning beside the content, when it is text; other shapes (a provider's structured
    reasoning details) are not the answer and are left out rather than failing the reply."""
    for field in ("reasoning_content", "reasoning"):
        try:
            text = _text(message.get(field), field)
        except BadReply:
            continue
        if text.strip():
            return text
    return None


def _usage(usage) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    if not isinstance(usage, dict):
        raise BadReply(f"usage is {_shape(usage)}, not an object of token counts")
    return _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")


def _count(usage: dict, field: str) -> int:
    value = usage.get(field)
    if value is None:
        return 0
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value <= MAX_TOKENS:
        raise BadReply(f"usage.{field} is {_shape(value)}, not a token count")
    return int(value)


def _shape(value) -> str:
    """A short, bounded description of a value for an error message."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {str(value)[:40]}"
    return names.get(type(value), type(value).__name__) + (f" {value[:40]!r}" if isinstance(value, str) else "")

"""One chat completion over HTTP, and what a failure means for the run (retry, skip, stop).

A failure every further request would repeat (bad key, unknown model) is ``Fatal``; a transient one
(429, 5xx, timeouts, dropped connections) is retried with exponential backoff and jitter; anything
else fails this item only and is recorded, never dropped.
"""

import asyncio
import random
import time
from dataclasses import dataclass

import openai

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cached: bool = False

    def to_cache(self) -> dict:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "finish_reason": self.finish_reason}


class Fatal(Exception):
    """A failure every further request would repeat (bad key, unknown model): stop the run."""


def retry_delay(backoff_base: float, backoff_max: float, attempt: int, exc: Exception) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is honoured (within the cap)."""
    delay = min(backoff_max, backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("retry-after") if response is not None else None
    try:
        if retry_after is not None:
            delay = max(delay, min(backoff_max, float(retry_after)))
    except ValueError:
        pass
    return delay


def classify(exc: Exception) -> str:
    """'retry', 'fatal' (stop the whole run) or 'skip' (this item only)."""
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError)):
        return "retry"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
        return "fatal"
    if isinstance(exc, openai.APIStatusError):
        return "retry" if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500 else "skip"
    return "skip"


def describe(exc: Exception) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def call(client: openai.AsyncOpenAI, request: dict, timeout: float) -> Reply:
    """One chat completion through the SDK's documented raw-request path (``client.post``).

    Same endpoint, body, auth, timeouts and typed errors as ``chat.completions.create``, without
    its per-call parameter transform and response models, which cost about 1.7 ms of CPU per call
    and would cap the parallelism a small machine can reach (bench/judge_bench.py).
    """
    started = time.perf_counter()
    # A backstop: the client's own timeout normally fires first. asyncio.timeout, unlike wait_for,
    # runs the call in this task instead of wrapping it in another one per request.
    async with asyncio.timeout(timeout + 5):
        body = await client.post("/chat/completions", body=request, cast_to=object)
    choices = (body or {}).get("choices") or [{}]
    usage = (body or {}).get("usage") or {}
    return Reply(text=(choices[0].get("message") or {}).get("content") or "",
                 prompt_tokens=usage.get("prompt_tokens") or 0,
                 completion_tokens=usage.get("completion_tokens") or 0,
                 latency_ms=(time.perf_counter() - started) * 1000,
                 finish_reason=choices[0].get("finish_reason"))

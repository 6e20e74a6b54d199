"""One chat completion over HTTP, and what a failure means for the run (retry, skip, stop).

A failure every further request would repeat (bad key, unknown model) is ``Fatal``; a transient one
(429, 5xx, timeouts, dropped connections) is retried with exponential backoff and jitter; anything
else fails this item only and is recorded, never dropped. A reply without an answer (``BadReply``,
runs/replies.py) is such an item failure.

Models as they are: a reasoning model refuses ``max_tokens`` (it wants ``max_completion_tokens``)
and any temperature but its default. ``Quirks`` learns that from the 400 the endpoint sends, rewrites
the request and sends it again at once; every later request of the run goes out rewritten, and the
orchestrator remembers what was learned per endpoint and model (store.endpoints).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runs.replies import Reply, read_reply

if TYPE_CHECKING:  # imported where used: the SDK takes a second to load
    import openai

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_MAX_TOKENS_REFUSED = re.compile(r"max_tokens.*max_completion_tokens|max_completion_tokens.*instead", re.I | re.S)
_TEMPERATURE_REFUSED = re.compile(r"temperature.*(unsupported|not support|only the default|does not support)"
                                  r"|(unsupported|not support).*temperature", re.I | re.S)


@dataclass
class Quirks:
    """What an endpoint refuses in a request, and how requests are rewritten for it. Shared by all
    workers of a run in one process (a lock guards learning)."""
    max_completion_tokens: bool = False  # send max_tokens as max_completion_tokens
    no_temperature: bool = False  # leave temperature out
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    FEATURES = ("max_completion_tokens", "no_temperature")

    def apply(self, request: dict) -> dict:
        if not (self.max_completion_tokens or self.no_temperature):
            return request
        request = dict(request)
        if self.max_completion_tokens and "max_tokens" in request:
            request["max_completion_tokens"] = request.pop("max_tokens")
        if self.no_temperature:
            request.pop("temperature", None)
        return request

    def learn(self, exc: Exception) -> bool:
        """True when ``exc`` is the endpoint refusing a parameter we can rewrite (learned now)."""
        import openai

        if not isinstance(exc, openai.BadRequestError):
            return False
        text = f"{getattr(exc, 'param', '') or ''} {exc}"
        with self._lock:
            if not self.max_completion_tokens and _MAX_TOKENS_REFUSED.search(text):
                self.max_completion_tokens = True
                return True
            if not self.no_temperature and _TEMPERATURE_REFUSED.search(text):
                self.no_temperature = True
                return True
        return False

    def learned(self) -> dict[str, str]:
        return {name: "yes" for name in self.FEATURES if getattr(self, name)}

    @classmethod
    def from_features(cls, features: dict[str, str]) -> Quirks:
        return cls(**{name: features.get(name) == "yes" for name in cls.FEATURES})


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
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError)):
        return "retry"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
        return "fatal"
    if isinstance(exc, openai.APIStatusError):
        return "retry" if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500 else "skip"
    return "skip"  # BadReply included: the server answered, with nothing usable


def describe(exc: Exception) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def call(client: openai.AsyncOpenAI, request: dict, timeout: float, quirks: Quirks | None = None) -> Reply:
    """One chat completion through the SDK's documented raw-request path (``client.post``), read by
    runs.replies.read_reply (BadReply when it carries no answer).

    Same endpoint, body, auth, timeouts and typed errors as ``chat.completions.create``, without
    its per-call parameter transform and response models, which cost about 1.7 ms of CPU per call
    and would cap the parallelism a small machine can reach (bench/judge_bench.py). A parameter the
    endpoint refuses and ``quirks`` can rewrite is rewritten and the call made again at once.
    """
    import openai

    quirks = quirks if quirks is not None else Quirks()
    while True:  # each pass that learns turns one feature on, so this ends
        started = time.perf_counter()
        try:
            # A backstop: the client's own timeout normally fires first. asyncio.timeout, unlike
            # wait_for, runs the call in this task instead of wrapping it in another one per request.
            async with asyncio.timeout(timeout + 5):
                body = await client.post("/chat/completions", body=quirks.apply(request), cast_to=object)
        except openai.BadRequestError as exc:
            if quirks.learn(exc):
                continue
            raise
        return read_reply(body, (time.perf_counter() - started) * 1000)

"""Learning what an endpoint accepts from its answer to the first request, instead of configuration.

Servers differ in how they take a JSON schema: OpenAI and vLLM take ``response_format`` json_schema,
llama-cpp-python answers that with HTTP 500 ("Input should be 'text' or 'json_object'") and takes
``{"type": "json_object", "schema": ...}``, Ollama's own API takes ``format``; a server may also
accept a field and ignore it. ``structured_mode`` sends the run's first item down the ladder
(json_schema, json_object, format, off) and keeps the first mode the endpoint both accepts and
honours (the answer is exactly the schema's JSON). A refusal of ``max_tokens`` or of a temperature
on the way is learned too (runs.calls.Quirks).

The answer that settled it is a real answer to a real item: the run records it like any other, so
learning costs no extra call when the first mode works. The orchestrator remembers the outcome per
base URL and model (store.endpoints): the ladder is walked once per endpoint and model, not per run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from errors import UserError
from judges.llm import conforms
from runs.calls import Quirks, classify
from runs.ledger import Job
from runs.pool import GaveUp, Settings, call_with_retries
from runs.replies import Reply

if TYPE_CHECKING:  # imported where used: the SDK takes a second to load
    import openai

LADDER = ("json_schema", "json_object", "format", "off")
PROBE_ITEMS = 3  # items tried when one fails for its own reasons (too long for the context, say)
_ABOUT_STRUCTURE = re.compile(r"response_format|json_schema|json_object|schema|\bformat\b|grammar|strict|guided",
                              re.IGNORECASE)
_UNSUPPORTED_STATUS = {400, 415, 422, 500, 501}


def unsupported(exc: Exception) -> bool:
    """An endpoint refusing the structured-output fields (not the item, not the key)."""
    import openai

    return (isinstance(exc, openai.APIStatusError) and exc.status_code in _UNSUPPORTED_STATUS
            and bool(_ABOUT_STRUCTURE.search(str(exc))))


async def structured_mode(client: openai.AsyncOpenAI, settings: Settings, quirks: Quirks, items: list[dict],
                          job_for: Callable[[str, dict], Job]) -> tuple[str, Job | None, Reply | None]:
    """The first mode of LADDER the endpoint neither refuses nor ignores, with the job and reply that
    showed it. (mode, None, None) when no tried item got an answer in that mode (empty replies, items
    too long): the mode is used but not yet confirmed. Raises UserError when the endpoint refuses the
    key or cannot be reached."""
    for mode in LADDER:
        for item in items[:PROBE_ITEMS]:
            job = job_for(mode, item)
            try:
                reply = await call_with_retries(client, job.request, settings, quirks, final=unsupported)
            except GaveUp as gave_up:
                if unsupported(gave_up.cause):
                    break  # refused: the next mode
                if classify(gave_up.cause) == "skip":
                    continue  # this item's own failure (or no answer): another item
                raise UserError(f"learning what {client.base_url} accepts: {gave_up}") from gave_up.cause
            if mode == "off" or conforms(reply.text):
                return mode, job, reply
            break  # accepted but not honoured: the next mode
        else:
            return mode, None, None
    return "off", None, None  # even plain requests refused with a word like "format": plain, unconfirmed

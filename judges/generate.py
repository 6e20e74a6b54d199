"""Collecting model responses: what to ask a model for each prompt, and what is kept with the answer.

The settings that shaped a response (endpoint, temperature, max tokens, a hash of the system prompt)
are stored with it; the key is not. Sending, caching and resuming are the run orchestrator's.
"""

import hashlib
from dataclasses import dataclass

from errors import UserError

DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Generator:
    model: str
    system_prompt: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    base_url: str | None = None  # recorded with each response; the request itself goes wherever the run sends it

    def __post_init__(self):
        if not self.model:
            raise UserError("generation needs --model (the model that answers the prompts)")

    @property
    def stored_settings(self) -> dict:
        settings = {"base_url": self.base_url, "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.system_prompt:
            settings["system_prompt_sha256"] = hashlib.sha256(self.system_prompt.encode("utf-8")).hexdigest()
        return settings

    def request(self, item: dict) -> dict:
        messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else []) + [
            {"role": "user", "content": item["prompt"]}]
        return {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}

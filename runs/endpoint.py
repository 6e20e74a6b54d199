"""Where requests go: the endpoint (base URL and key) and the one TLS context per process.

The key is typed on the Run page (``api_key``) or read from an environment variable; it lives only
in this object, never in the database or a worker process's argv.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from errors import UserError

if TYPE_CHECKING:  # imported where used: the SDK takes a second to load
    import openai

OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = "OPENAI_API_KEY"

    @property
    def url(self) -> str:
        """The base URL requests go to (OpenAI's when none is given), as what an endpoint learned is
        remembered under."""
        return (self.base_url or OPENAI_URL).rstrip("/")

    def key(self) -> str:
        key = self.api_key or os.environ.get(self.api_key_env)
        if not key:
            raise UserError(f"no API key: set {self.api_key_env} (or name another variable with --api-key-env); "
                            "a local server that needs no key accepts any value, e.g. export OPENAI_API_KEY=none")
        return key

    def client(self, timeout: float) -> openai.AsyncOpenAI:
        """The SDK's own retries are off: the runner retries, and counts the attempts. The HTTP client
        is the SDK's default one, given the process's TLS context (tls_context)."""
        import openai

        http_client = openai.DefaultAsyncHttpxClient(verify=tls_context(), timeout=timeout)
        return openai.AsyncOpenAI(base_url=self.base_url or None, api_key=self.key(), timeout=timeout,
                                  max_retries=0, http_client=http_client)


@functools.cache
def tls_context():
    """The TLS context the SDK's HTTP client would build for itself (its httpx package's
    ``create_ssl_context``: the CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR as set when first built),
    built once per process and shared: loading the CA bundle takes about 20 ms, paid by every run
    otherwise (the app runs many in one process; worker processes inherit it from the parent). True
    (httpx builds its own) where that httpx has no ``create_ssl_context``."""
    import openai

    httpx_client_class = openai.DefaultAsyncHttpxClient.__mro__[1]  # httpx.AsyncClient (httpx2 from openai 3)
    package = sys.modules[httpx_client_class.__module__.partition(".")[0]]
    create = getattr(package, "create_ssl_context", None)
    return create() if create else True

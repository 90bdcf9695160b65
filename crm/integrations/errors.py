"""Errors raised by the provider clients (SerpAPI, Serper, the chat API).

Callers catch `ProviderError` and look at the subclass to decide: `ProviderUnavailable` is
worth retrying later; `ProviderResponseError` will fail the same way again. Messages are
built by our code from the provider name, status and a scrubbed excerpt: never a secret.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call that did not produce a usable answer."""

    def __init__(self, message: str, *, provider: str = ""):
        super().__init__(message)
        # "serpapi", "serper" or "llm"; taken from the message's "name: ..." prefix if not given.
        self.provider = provider or (message.split(":", 1)[0] if ":" in message else "")


class ProviderUnavailable(ProviderError):
    """Transient trouble (connect error, timeout, 429, 5xx) that survived every attempt."""


class ProviderResponseError(ProviderError):
    """Permanent: a 4xx other than 429, a body that is not JSON, or an unexpected shape."""

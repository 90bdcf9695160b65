"""Web search context for first lines: Serper's Google search snippets about a business.

Optional: `get_search_backend()` returns None when SERPER_API_KEY is not set, and callers
write the line without context. Thin client: no ORM, explicit timeout, bounded retries.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings

from crm.integrations.errors import ProviderResponseError
from crm.integrations.http import ProviderClient, request_json

# Results asked of Serper; more than the few snippets kept, as some have none.
RESULTS_REQUESTED = 5
# A snippet is third-party text headed for a prompt: keep it short.
SNIPPET_MAX_CHARS = 400


class SerperBackend(ProviderClient):
    """POST {base_url}/search with the key in X-API-KEY; the organic results' snippets."""

    name = "serper"


    def snippets(self, *, query: str, limit: int = 3) -> list[str]:
        """Up to `limit` non-empty snippets, in Google's order, whitespace collapsed."""
        data = request_json(
            provider=self.name,
            method="POST",
            url=f"{self.base_url}/search",
            json={"q": query, "num": RESULTS_REQUESTED},
            headers={"X-API-KEY": self._api_key},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            limiter=self.limiter,
            client=self._client,
            sleep=self._sleep,
        )
        if not isinstance(data, dict):
            raise ProviderResponseError("serper: unexpected JSON (a list, not an object)", provider=self.name)
        organic = data.get("organic") or []
        if not isinstance(organic, list):
            raise ProviderResponseError("serper: unexpected organic results shape", provider=self.name)
        found = []
        for item in organic:
            snippet = item.get("snippet") if isinstance(item, dict) else None
            if isinstance(snippet, str) and snippet.strip():
                found.append(re.sub(r"\s+", " ", snippet).strip()[:SNIPPET_MAX_CHARS])
            if len(found) >= limit:
                break
        return found


def get_search_backend(*, limiter: Callable[[], None] | None = None) -> SerperBackend | None:
    """Serper when SERPER_API_KEY is set; None otherwise (search context is optional)."""
    if not settings.SERPER_API_KEY:
        return None
    return SerperBackend(
        api_key=settings.SERPER_API_KEY,
        base_url=settings.SERPER_BASE_URL,
        timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        max_attempts=settings.PROVIDER_MAX_ATTEMPTS,
        limiter=limiter,
    )

"""First lines from an OpenAI-compatible chat-completions API (OpenAI, or any server that
speaks the same protocol: base URL, model and key come from the environment).

`get_chat_backend()` returns None when LLM_API_KEY is not set: callers use their templates.
Thin client: no ORM, explicit timeout, bounded retries. The answer is returned as text;
whether it is acceptable as a first line is the caller's decision.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from crm.integrations.errors import ProviderResponseError
from crm.integrations.http import ProviderClient, request_json, scrub


class ChatBackend(ProviderClient):
    """POST {base_url}/chat/completions with a Bearer key; choices[0].message.content."""

    name = "llm"

    def __init__(self, *, model: str, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def __repr__(self) -> str:  # never the key
        return f"<ChatBackend {self.model} at {self.base_url}>"

    def complete(self, *, system: str, user: str, max_tokens: int = 80, temperature: float = 0.7) -> str:
        """The model's answer to one system + user message, stripped of surrounding space."""
        data = request_json(
            provider=self.name,
            method="POST",
            url=f"{self.base_url}/chat/completions",
            json={
                "model": self.model,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "max_tokens": max_tokens,
                "temperature": temperature,
            },
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            limiter=self.limiter,
            client=self._client,
            sleep=self._sleep,
        )
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            hint = scrub(_error_hint(data), [self._api_key])
            raise ProviderResponseError(f"llm: unexpected response shape{hint}", provider=self.name) from None
        if not isinstance(content, str):
            # None: a refusal or a tool call instead of text.
            raise ProviderResponseError("llm: the answer has no text content", provider=self.name)
        return content.strip()


def _error_hint(data) -> str:
    """Some compatible servers answer 200 with {"error": {"message": ...}}: say what it was."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return f" ({str(error)[:200]})" if error else ""


def get_chat_backend(*, limiter: Callable[[], None] | None = None) -> ChatBackend | None:
    """The chat API when LLM_API_KEY is set; None otherwise (templates are used)."""
    if not settings.LLM_API_KEY:
        return None
    return ChatBackend(
        api_key=settings.LLM_API_KEY,
        base_url=settings.LLM_BASE_URL,
        model=settings.LLM_MODEL,
        timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        max_attempts=settings.PROVIDER_MAX_ATTEMPTS,
        limiter=limiter,
    )

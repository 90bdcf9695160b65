"""The OpenAI-compatible chat-completions client through the real httpx client against a fake
chat API on 127.0.0.1."""

import logging

import pytest

from crm.integrations.errors import ProviderResponseError, ProviderUnavailable
from crm.integrations.llm import ChatBackend, get_chat_backend
from fakes.http_server import FakeResponse

API_KEY = "sk-llm-test-key-0123456789abcdef"
COMPLETIONS = "/v1/chat/completions"


def completion(content):
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
    }


@pytest.fixture
def backend(fake_server, limiter, sleeps):
    return ChatBackend(api_key=API_KEY, base_url=fake_server.base_url + "/v1/", model="test-model", timeout=10,
                       max_attempts=3, limiter=limiter, sleep=sleeps)


def test_success_posts_the_messages_with_a_bearer_key(fake_server, backend, limiter):
    fake_server.add(COMPLETIONS, FakeResponse(body=completion("  Love the reviews at Joe's Plumbing!\n")))

    answer = backend.complete(system="You write first lines.", user="Facts: ...", max_tokens=60, temperature=0.2)

    assert answer == "Love the reviews at Joe's Plumbing!"
    [request] = fake_server.requests
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.json == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "You write first lines."}, {"role": "user", "content": "Facts: ..."}],
        "max_tokens": 60,
        "temperature": 0.2,
    }
    assert limiter.calls == 1
    assert backend.model == "test-model"


def test_defaults_for_tokens_and_temperature(fake_server, backend):
    fake_server.add(COMPLETIONS, FakeResponse(body=completion("Hi.")))
    backend.complete(system="s", user="u")
    assert fake_server.requests[0].json["max_tokens"] == 80
    assert fake_server.requests[0].json["temperature"] == 0.7


@pytest.mark.parametrize("body", [
    {"choices": []},
    {"object": "chat.completion"},
    {"choices": [{"message": {}}]},
    {"choices": [{"text": "legacy completions shape"}]},
    {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "I can't help"}}]},
    {"error": {"message": "model overloaded"}},
    [1, 2, 3],
])
def test_odd_shapes_are_response_errors(fake_server, backend, body):
    fake_server.add(COMPLETIONS, FakeResponse(body=body))
    with pytest.raises(ProviderResponseError, match="^llm: "):
        backend.complete(system="s", user="u")
    assert len(fake_server.requests) == 1


def test_a_200_error_body_is_named_in_the_message(fake_server, backend):
    fake_server.add(COMPLETIONS, FakeResponse(body={"error": {"message": "model overloaded"}}))
    with pytest.raises(ProviderResponseError, match="model overloaded"):
        backend.complete(system="s", user="u")


def test_429_with_retry_after_then_success(fake_server, backend, sleeps, limiter):
    fake_server.add(COMPLETIONS, FakeResponse(429, headers={"Retry-After": "2"}, body={"error": {"message": "rate"}}),
                    FakeResponse(body=completion("Hello.")))
    assert backend.complete(system="s", user="u") == "Hello."
    assert sleeps.waits == [2.0]
    assert limiter.calls == 2


def test_500_then_success(fake_server, backend, sleeps):
    fake_server.add(COMPLETIONS, FakeResponse(500), FakeResponse(body=completion("Hello.")))
    assert backend.complete(system="s", user="u") == "Hello."
    assert len(sleeps.waits) == 1


def test_timeout_then_unavailable(fake_server, sleeps, limiter):
    slow = ChatBackend(api_key=API_KEY, base_url=fake_server.base_url + "/v1", model="m", timeout=0.2,
                       max_attempts=2, limiter=limiter, sleep=sleeps)
    fake_server.route(COMPLETIONS, FakeResponse(body=completion("late"), delay=0.6))
    with pytest.raises(ProviderUnavailable, match="llm: ReadTimeout after 2 attempts"):
        slow.complete(system="s", user="u")
    assert len(fake_server.requests) == 2 and limiter.calls == 2


def test_malformed_json_is_a_response_error_without_retry(fake_server, backend):
    fake_server.route(COMPLETIONS, FakeResponse(body="data: {partial"))
    with pytest.raises(ProviderResponseError, match="llm: malformed JSON"):
        backend.complete(system="s", user="u")
    assert len(fake_server.requests) == 1


def test_401_without_retry_and_the_key_is_nowhere(fake_server, backend, caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    fake_server.add(COMPLETIONS, FakeResponse(503))
    fake_server.route(COMPLETIONS, FakeResponse(401, body={"error": {"message": f"Incorrect API key provided: {API_KEY}"}}))

    with pytest.raises(ProviderResponseError, match="llm: HTTP 401") as caught:
        backend.complete(system="s", user="u")

    assert len(fake_server.requests) == 2  # the 503 retried once, the 401 not at all
    assert API_KEY not in str(caught.value)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(backend)


def test_attempts_are_bounded(fake_server, backend, limiter):
    fake_server.route(COMPLETIONS, FakeResponse(502))
    with pytest.raises(ProviderUnavailable, match="llm: HTTP 502 after 3 attempts"):
        backend.complete(system="s", user="u")
    assert len(fake_server.requests) == 3 and limiter.calls == 3


def test_get_chat_backend(settings, limiter):
    settings.LLM_API_KEY = ""
    assert get_chat_backend(limiter=limiter) is None

    settings.LLM_API_KEY = API_KEY
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_MODEL = "llama-3.1-8b"
    settings.PROVIDER_TIMEOUT_SECONDS = 7.0
    settings.PROVIDER_MAX_ATTEMPTS = 5
    backend = get_chat_backend(limiter=limiter)
    assert isinstance(backend, ChatBackend) and backend.name == "llm"
    assert (backend.model, backend.base_url, backend.timeout, backend.max_attempts) == (
        "llama-3.1-8b", "http://127.0.0.1:9/v1", 7.0, 5)
    assert backend.limiter is limiter

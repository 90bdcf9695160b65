"""Fake Twilio and Stripe accounts for `manage.py doctor`'s tests: each checks the credentials it
is given (401 in the provider's own error shape when wrong) and lists what the account holds (the
incoming numbers with their SMS webhook URLs; the webhook endpoints), so a test can set up a wrong
token, a number pointing elsewhere, a missing or disabled endpoint. Plus a plain fake answering
SerpAPI's account, the LLM's model list and our own /health/live.

    with fake_twilio_account(sid, token, numbers={"+15125550100": "https://old.example.com/sms"}) as twilio:
        settings.TWILIO_API_BASE_URL = twilio.base_url
"""

import base64

from fakes.http_server import FakeResponse, FakeServer, RecordedRequest


def _basic_auth(request: RecordedRequest) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def fake_twilio_account(account_sid: str, auth_token: str, numbers: dict[str, str]) -> FakeServer:
    """Twilio's IncomingPhoneNumbers list for one account: {phone number: its SMS webhook URL}."""
    path = f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    server = FakeServer(default=FakeResponse(401, body={"code": 20003, "message": "Authenticate", "status": 401}))

    def listing(request: RecordedRequest) -> FakeResponse:
        if _basic_auth(request) != (account_sid, auth_token):
            return FakeResponse(401, body={"code": 20003, "message": "Authenticate", "status": 401,
                                           "more_info": "https://www.twilio.com/docs/errors/20003"})
        rows = [{"sid": f"PN{i:032d}", "account_sid": account_sid, "phone_number": number, "sms_url": url,
                 "sms_method": "POST"} for i, (number, url) in enumerate(numbers.items())]
        return FakeResponse(body={"incoming_phone_numbers": rows, "page": 0, "page_size": 1000, "start": 0,
                                  "end": max(0, len(rows) - 1), "uri": path, "first_page_uri": path,
                                  "next_page_uri": None, "previous_page_uri": None})

    server.route(path, listing)
    return server


def fake_stripe_account(secret_key: str, endpoints: list[dict]) -> FakeServer:
    """Stripe's webhook endpoint list for one key: each {"url", "status", "enabled_events"}."""
    server = FakeServer()

    def listing(request: RecordedRequest) -> FakeResponse:
        if request.headers.get("authorization", "") != f"Bearer {secret_key}":
            return FakeResponse(401, body={"error": {"type": "invalid_request_error", "code": "api_key_invalid",
                                                     "message": "Invalid API Key provided: sk_****"}})
        data = [{"id": f"we_{i}", "object": "webhook_endpoint", "livemode": False, **endpoint}
                for i, endpoint in enumerate(endpoints)]
        return FakeResponse(body={"object": "list", "data": data, "has_more": False, "url": "/v1/webhook_endpoints"})

    server.route("/v1/webhook_endpoints", listing)
    return server


def fake_key_checked_api(*, serpapi_key: str = "", llm_key: str = "") -> FakeServer:
    """SerpAPI's /account.json (api_key in the query), an OpenAI-style /v1/models (Bearer key) and
    our /health/live, on one server."""
    server = FakeServer()
    server.route("/account.json", lambda request: FakeResponse(
        body={"account_email": "owner@example.com"} if request.query.get("api_key") == serpapi_key
        else None, status=200 if request.query.get("api_key") == serpapi_key else 401))
    server.route("/v1/models", lambda request: FakeResponse(
        body={"object": "list", "data": []}, status=200 if request.headers.get("authorization") == f"Bearer {llm_key}"
        else 401))
    server.route("/health/live", FakeResponse(body={"status": "ok"}))
    return server

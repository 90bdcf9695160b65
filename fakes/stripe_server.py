"""A fake Stripe API on 127.0.0.1 for the real stripe SDK: tests and benchmarks.

It speaks just enough of Stripe for crm.integrations.stripe_api: Checkout Sessions (create,
with idempotency keys as Stripe keeps them: the same key gives the same answer, the same key
with other parameters is an idempotency_error; retrieve; expire), billing-portal sessions,
the Events API (newest first, `starting_after` / `ending_before` cursors) and subscriptions.
It checks the Bearer secret key and can be told to fail the next calls.

Each session's `url` is a hosted payment page on the fake itself (`/pay/<session id>`,
fakes/stripe_pay_page.py): its "Pay" button completes the session and, like Stripe, posts signed
`checkout.session.completed` and `invoice.paid` events (built from the shapes in
fakes/stripe_shapes/) to `webhook_url`, then redirects to the session's success_url.

    with FakeStripeServer(webhook_secret="whsec_...", webhook_url=live + "/webhooks/stripe/") as fake:
        backend = StripeBackend(secret_key=fake.api_key, api_base_url=fake.base_url)
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from fakes.http_server import LocalServer
from fakes.stripe_events import new_id, shape
from fakes.stripe_pay_page import html_page, pay_page, portal_page, session_complete

MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600  # Stripe's bounds for a session's expires_at
DEFAULT_EXPIRY = 24 * 3600
_KEY_PART = re.compile(r"\[([^\]]*)\]")


def decode_form(body: str) -> dict:
    """Stripe's form encoding (`line_items[0][price_data][currency]=usd`) as nested dicts and
    lists; values stay strings, as they arrive."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node = root
        for part, nxt in zip(parts, parts[1:] + [None], strict=True):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    params: dict
    headers: dict[str, str]


@dataclass
class FakeStripeServer(LocalServer):
    api_key: str = "sk_test_fake_0123456789"
    webhook_secret: str = "whsec_fake_0123456789"
    webhook_url: str = ""  # where the pay page posts its events ("" = nowhere)
    clock: object = time.time  # seconds since the epoch; tests may pass a fixed clock
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)  # price id -> unit amount in cents
    events: list[dict] = field(default_factory=list)  # oldest first
    # (event id, type, HTTP status the app answered, or 0 when the post failed)
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._failures: list[int] = []
        self._idempotent: dict[str, tuple[str, int, dict]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------------

    def fail_next(self, *statuses: int) -> None:
        """The next API calls get these HTTP statuses (an error body) instead of an answer."""
        with self._lock:
            self._failures.extend(statuses)

    @property
    def created_sessions(self) -> list[dict]:
        return list(self.sessions.values())

    def session_complete(self, session_id: str) -> list[dict]:
        """The customer paid: complete the session, make its customer, subscription and paid
        first invoice, record the two events and post them signed to webhook_url (what the
        payment page's "Pay" does, fakes/stripe_pay_page.py)."""
        return session_complete(self, session_id)

    # --- objects -----------------------------------------------------------------------

    def _session(self, session_id: str) -> dict | None:
        session = self.sessions.get(session_id)
        if session is not None and session["status"] == "open" and self.clock() >= session["expires_at"]:
            session["status"] = "expired"
        return session

    @staticmethod
    def _public(session: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in session.items() if not k.startswith("_")}

    def _lines(self, line_items: list, currency: str) -> list[dict]:
        """The session's (one-time, recurring) lines; a price id must be one of `prices`."""
        lines = []
        for recurring, item in zip((False, True), line_items, strict=True):
            data = item.get("price_data") or {}
            if not data and item.get("price") not in self.prices:
                raise LookupError(f"No such price: '{item.get('price')}'")
            amount = int(data["unit_amount"]) if data else self.prices[item["price"]]
            lines.append({"price": item.get("price") or new_id("price"), "amount": amount,
                          "quantity": int(item.get("quantity") or 1), "recurring": recurring,
                          "name": (data.get("product_data") or {}).get("name") or item.get("price"),
                          "currency": data.get("currency") or currency})
        return lines

    def _session_create(self, params: dict) -> tuple[int, dict]:
        now = int(self.clock())
        if params.get("mode") != "subscription":
            return 400, _error("mode must be subscription here", param="mode")
        items = params.get("line_items") or []
        if not isinstance(items, list) or len(items) != 2:
            return 400, _error("this fake takes a one-time and a recurring line", param="line_items")
        expires_at = int(params.get("expires_at") or now + DEFAULT_EXPIRY)
        if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
            return 400, _error("The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                               "Checkout Session creation.", param="expires_at")
        for key in ("success_url", "cancel_url"):
            if not str(params.get(key, "")).startswith(("http://", "https://")):
                return 400, _error(f"Not a valid URL: {key}", param=key)
        currency = ((items[0].get("price_data") or {}).get("currency") or "usd").lower()
        try:
            lines = self._lines(items, currency)
        except LookupError as exc:
            return 400, _error(str(exc), param="line_items", code="resource_missing")
        session = shape("checkout.session")
        session_id = "cs_test_" + uuid.uuid4().hex
        session.update(
            id=session_id, object="checkout.session", mode="subscription", status="open", payment_status="unpaid",
            created=now, expires_at=expires_at, currency=currency, customer=None, subscription=None, invoice=None,
            payment_intent=None, amount_subtotal=None, amount_total=None,
            metadata=params.get("metadata") or {}, client_reference_id=params.get("client_reference_id"),
            customer_email=params.get("customer_email"), success_url=params["success_url"],
            cancel_url=params["cancel_url"], url=f"{self.base_url}/pay/{session_id}",
            allow_promotion_codes=params.get("allow_promotion_codes") == "true",
        )
        session["_lines"] = lines
        session["_subscription_metadata"] = (params.get("subscription_data") or {}).get("metadata") or {}
        self.sessions[session_id] = session
        return 200, self._public(session)

    def _events_page(self, query: dict[str, str]) -> dict:
        newest_first = list(reversed(self.events))
        limit = max(1, min(int(query.get("limit") or 10), 100))
        ids = [e["id"] for e in newest_first]
        if query.get("starting_after") in ids:
            rest = newest_first[ids.index(query["starting_after"]) + 1:]
            page, has_more = rest[:limit], len(rest) > limit
        elif query.get("ending_before") in ids:
            rest = newest_first[:ids.index(query["ending_before"])]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = newest_first[:limit], len(newest_first) > limit
        return {"object": "list", "data": page, "has_more": has_more, "url": "/v1/events"}

    # --- serving (handler threads) -------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str], params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._session_create(params)
        match = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)(/expire)?", path)
        if match:
            session = self._session(match.group(1))
            if session is None:
                return 404, _error(f"No such checkout.session: '{match.group(1)}'", code="resource_missing")
            if match.group(2) and method == "POST":
                if session["status"] != "open":
                    return 400, _error("Only Checkout Sessions with a status of `open` can be expired.")
                session["status"] = "expired"
            return 200, self._public(session)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if not str(params.get("customer", "")).startswith("cus_"):
                return 400, _error("No such customer", param="customer", code="resource_missing")
            portal_id = new_id("bps")
            return 200, {"id": portal_id, "object": "billing_portal.session", "customer": params["customer"],
                         "return_url": params.get("return_url"), "created": int(self.clock()), "livemode": False,
                         "url": f"{self.base_url}/portal/{portal_id}"}
        if method == "GET" and path == "/v1/events":
            return 200, self._events_page(query)
        match = re.fullmatch(r"/v1/subscriptions/([A-Za-z0-9_]+)", path)
        if match and method == "GET":
            if match.group(1) not in self.subscriptions:
                return 404, _error(f"No such subscription: '{match.group(1)}'", code="resource_missing")
            return 200, copy.deepcopy(self.subscriptions[match.group(1)])
        return 404, _error(f"Unrecognized request URL ({method}: {path}).")

    def _serve_api(self, method: str, path: str, query: dict, params: dict, headers: dict) -> tuple[int, dict, dict]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, params, headers))
            if self._failures:
                status = self._failures.pop(0)
                return status, _error("Fake failure", kind="api_error"), {}
            if headers.get("authorization", "") != f"Bearer {self.api_key}":
                return 401, _error("Invalid API Key provided: sk_test_****"), {}
            key = headers.get("idempotency-key", "") if method == "POST" else ""
            fingerprint = f"{method} {path} " + json.dumps(params, sort_keys=True)
            if key in self._idempotent:
                seen, status, body = self._idempotent[key]
                if seen != fingerprint:
                    return 400, _error("Keys for idempotent requests can only be used with the same parameters "
                                       "they were first used with.", kind="idempotency_error"), {}
                return status, copy.deepcopy(body), {"Idempotent-Replayed": "true"}
            status, body = self._api(method, path, query, params)
            if key and status < 500:
                self._idempotent[key] = (fingerprint, status, copy.deepcopy(body))
            return status, body, {}


def _error(message: str, *, kind: str = "invalid_request_error", code: str | None = None,
           param: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "code": code, "param": param}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if url.path.startswith("/v1/"):
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = self.fake._serve_api(method, url.path, query, decode_form(raw), headers)
            return self._reply(status, "application/json", json.dumps(body), extra)
        match = re.fullmatch(r"/pay/([A-Za-z0-9_]+)", url.path)
        if match:
            return self._reply(*pay_page(self.fake, method, match.group(1)))
        if re.fullmatch(r"/portal/([A-Za-z0-9_]+)", url.path):
            return self._reply(*portal_page())
        return self._reply(*html_page(404, "Not found", "<h1>Not found</h1>"))

    def _reply(self, status: int, content_type: str, text: str, extra: dict | None = None) -> None:
        body = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


FakeStripeServer.handler_class = _Handler

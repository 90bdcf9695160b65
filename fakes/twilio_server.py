"""A fake Twilio REST API on 127.0.0.1 for the real twilio SDK: tests and benchmarks.

It speaks just enough of `/2010-04-01/Accounts/{sid}/Messages.json` (create and list) for
crm.integrations.sms, checks HTTP Basic auth, records every request it receives, and can be
told to fail the next calls (a Twilio error code, a 5xx, a 429) or to answer too slowly.
Like Twilio, it can post signed status callbacks to each message's StatusCallback URL, some
of them before its API answer has returned (`callback_statuses`, `early_callbacks`).

    with FakeTwilioServer(account_sid="AC...", auth_token="...") as fake:
        backend = TwilioSmsBackend(account_sid=..., auth_token=..., api_base_url=fake.base_url)
        ...
        assert fake.requests[-1].form["Body"] == "hello"
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from fakes.http_server import LocalServer

API_PREFIX = "/2010-04-01/Accounts/"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    auth_user: str  # the account SID from HTTP Basic auth ("" when absent)
    auth_password: str


@dataclass
class PlannedFailure:
    status: int
    code: int | None = None  # Twilio error code in the JSON body; None: no JSON body at all
    message: str = "Fake failure"
    delay: float = 0.0  # seconds to sleep before answering (to trip client timeouts)


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str
    body: str
    status: str
    messaging_service_sid: str | None
    date_created: datetime
    date_sent: datetime | None
    error_code: int | None = None

    def as_json(self, account_sid: str) -> dict:
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": format_datetime(self.date_created, usegmt=True),
            "date_updated": format_datetime(self.date_created, usegmt=True),
            "date_sent": format_datetime(self.date_sent, usegmt=True) if self.date_sent else None,
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_ or None,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {},
            "to": self.to,
            "uri": f"{API_PREFIX}{account_sid}/Messages/{self.sid}.json",
        }


@dataclass
class FakeTwilioServer(LocalServer):
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"
    # Status a created message is given (Twilio answers "queued", or "accepted" with a
    # Messaging Service); and whether it counts as sent at once (date_sent set).
    create_status: str = "queued"
    sent_immediately: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[FakeMessage] = field(default_factory=list)
    # Seconds each create takes to answer, drawn evenly from this range.
    answer_delay: tuple[float, float] = (0.0, 0.0)
    # Status callbacks posted for each created message (e.g. ("sent", "delivered")), and the
    # share of messages whose callbacks go out before the API answer does.
    callback_statuses: tuple[str, ...] = ()
    early_callbacks: float = 0.0
    # (sid, status, HTTP status the app answered, or 0 when the post failed)
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: deque[PlannedFailure] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------------

    def fail_next(
        self, status: int, code: int | None = None, message: str = "Fake failure", delay: float = 0.0
    ) -> None:
        """The next request gets this error instead of being served (queued, first in first out)."""
        with self._lock:
            self._failures.append(PlannedFailure(status, code, message, delay))

    def add_message(self, **kwargs) -> FakeMessage:
        """A message already on the account (e.g. sent before a crash)."""
        now = datetime.now(UTC)
        defaults = {
            "sid": "SM" + uuid.uuid4().hex,
            "from_": "",
            "status": "sent",
            "messaging_service_sid": None,
            "date_created": now,
            "date_sent": now,
        }
        message = FakeMessage(**{**defaults, **kwargs})
        with self._lock:
            self.messages.append(message)
        return message

    @property
    def posted(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def _post_callbacks(self, message: FakeMessage, url: str, pause: float = 0.0) -> None:
        for status in self.callback_statuses:
            if pause:
                time.sleep(pause)
            params = {"MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": self.account_sid,
                      "MessageStatus": status, "SmsStatus": status, "To": message.to, "From": message.from_}
            signature = RequestValidator(self.auth_token).compute_signature(url, params)
            try:
                answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30).status_code
            except httpx.HTTPError:
                answer = 0
            with self._lock:
                self.callbacks.append((message.sid, status, answer))

    # --- serving (called from the handler thread) ---------------------------------------

    def _next_failure(self) -> PlannedFailure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _create(self, form: dict[str, str]) -> FakeMessage:
        now = datetime.now(UTC)
        message = FakeMessage(
            sid="SM" + uuid.uuid4().hex,
            to=form.get("To", ""),
            from_=form.get("From", ""),
            body=form.get("Body", ""),
            status=self.create_status,
            messaging_service_sid=form.get("MessagingServiceSid"),
            date_created=now,
            date_sent=now if self.sent_immediately else None,
        )
        with self._lock:
            self.messages.append(message)
        return message

    def _list(self, query: dict[str, str]) -> list[FakeMessage]:
        after = _parse_iso(query.get("DateSent>"))
        with self._lock:
            found = [
                m
                for m in self.messages
                if ("To" not in query or m.to == query["To"])
                and ("From" not in query or m.from_ == query["From"])
                # Like Twilio: a message not sent yet has no date_sent and fails this filter.
                and (after is None or (m.date_sent is not None and m.date_sent >= after))
            ]
        found.sort(key=lambda m: m.date_created, reverse=True)  # newest first, as Twilio lists
        return found[: int(query.get("PageSize", 50))]


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTwilioServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        user, password = _basic_auth(self.headers.get("Authorization", ""))
        fake.requests.append(
            RecordedRequest(method, url.path, query, form, dict(self.headers), user, password)
        )

        failure = fake._next_failure()
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.code is None:
                return self._reply(failure.status, "<html>Service Unavailable</html>", "text/html")
            return self._json(
                failure.status,
                {
                    "code": failure.code,
                    "message": failure.message,
                    "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
                    "status": failure.status,
                },
            )

        if (user, password) != (fake.account_sid, fake.auth_token):
            return self._json(
                401, {"code": 20003, "message": "Authenticate", "status": 401, "more_info": ""}
            )
        if url.path != f"{API_PREFIX}{fake.account_sid}/Messages.json":
            return self._json(404, {"code": 20404, "message": "Not found", "status": 404})

        if method == "POST":
            if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
                return self._json(
                    400,
                    {"code": 21603, "message": "A 'From' or 'MessagingServiceSid' is required",
                     "status": 400},
                )
            message = fake._create(form)
            callback_url = form.get("StatusCallback", "")
            if callback_url and fake.callback_statuses:
                if random.random() < fake.early_callbacks:
                    fake._post_callbacks(message, callback_url)  # before our answer reaches the client
                else:
                    threading.Thread(target=fake._post_callbacks, args=(message, callback_url, 0.05),
                                     daemon=True).start()
            low, high = fake.answer_delay
            if high > 0:
                time.sleep(random.uniform(low, high))
            return self._json(201, message.as_json(fake.account_sid))

        messages = fake._list(query)
        return self._json(
            200,
            {
                "messages": [m.as_json(fake.account_sid) for m in messages],
                "end": max(len(messages) - 1, 0),
                "first_page_uri": url.path,
                "next_page_uri": None,
                "page": 0,
                "page_size": int(query.get("PageSize", 50)),
                "previous_page_uri": None,
                "start": 0,
                "uri": self.path,
            },
        )

    def _json(self, status: int, payload: dict) -> None:
        self._reply(status, json.dumps(payload), "application/json")

    def _reply(self, status: int, text: str, content_type: str) -> None:
        body = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def _basic_auth(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


FakeTwilioServer.handler_class = _Handler

"""A fake Twilio Voice API on 127.0.0.1 for the real twilio SDK: tests and the rep walk.

It speaks just enough of `/2010-04-01/Accounts/{sid}/Calls.json` (create) for
crm.integrations.voice, checks HTTP Basic auth and records every request. Like Twilio, each
created call then plays out in a thread: signed status callbacks to the call's StatusCallback
(initiated, ringing), the rep "answers" and the call's TwiML URL is fetched with a signed POST
(kept in `twiml`), then in-progress. When that TwiML dials a <Number>, the lead's leg plays out
as a child call (ParentCallSid) reporting to the Number's statusCallback: it rings
`lead_ring_seconds`, is answered and talks `talk_seconds` (or ends "no-answer"). Last the rep's
call completes with its CallDuration, which, as Twilio's does, counts the lead's ringing too.

    with FakeTwilioVoiceServer(account_sid="AC...", auth_token="...") as fake:
        backend = TwilioVoiceBackend(account_sid=..., auth_token=..., api_base_url=fake.base_url)
        ...
        fake.wait_done(sid)
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from fakes.http_server import LocalServer

API_PREFIX = "/2010-04-01/Accounts/"
REP_HANGS_UP_SECONDS = 4  # the rep's leg when the TwiML dials nobody


def _dialled_number(twiml: str) -> ET.Element | None:
    """The <Dial><Number> of a TwiML answer, if it dials one."""
    try:
        return ET.fromstring(twiml).find("./Dial/Number")
    except ET.ParseError:
        return None


@dataclass
class VoiceRequest:
    method: str
    path: str
    form: dict[str, str]
    auth_user: str


@dataclass
class FakeTwilioVoiceServer(LocalServer):
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"
    talk_seconds: int = 61  # the lead's leg's CallDuration: answered to hang-up
    lead_ring_seconds: int = 14  # how long the lead's phone rings before they answer
    lead_answers: bool = True  # False: the lead's leg ends "no-answer"
    step_delay: float = 0.1  # seconds between one callback and the next
    requests: list[VoiceRequest] = field(default_factory=list)
    # (sid of the call placed, CallStatus or "twiml" or "lead:<CallStatus>" for the lead's leg,
    #  HTTP status the app answered, or 0 when the post failed)
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)
    twiml: dict[str, str] = field(default_factory=dict)  # sid -> the TwiML the app answered
    fail_with: tuple[int, int] | None = None  # (HTTP status, Twilio code) for every create

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, threading.Event] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def wait_done(self, sid: str, timeout: float = 10.0) -> bool:
        """Whether the call's last callback was posted within `timeout` seconds."""
        with self._lock:
            done = self._done.get(sid)
        return bool(done and done.wait(timeout))

    # --- playing a call out (a thread per call) -------------------------------------------

    def _post(self, url: str, params: dict[str, str]) -> int:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        try:
            return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30).status_code
        except httpx.HTTPError:
            return 0

    def _fetch_twiml(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        try:
            answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
            return answer.status_code, answer.text
        except httpx.HTTPError:
            return 0, ""

    def _record(self, sid: str, status: str, code: int) -> None:
        with self._lock:
            self.callbacks.append((sid, status, code))

    def _play(self, sid: str, form: dict[str, str]) -> None:
        """The rep's leg rings and is answered; its TwiML is fetched; a <Dial><Number> in it is
        played as Twilio does: a child call to the lead that rings `lead_ring_seconds`, is
        answered (or not: `lead_answers`) and talks `talk_seconds`, reporting to the Number's
        statusCallback for its statusCallbackEvent events; then the rep's leg completes, its
        CallDuration counting the lead's ringing and the talk."""
        base = {"CallSid": sid, "AccountSid": self.account_sid, "From": form.get("From", ""),
                "To": form.get("To", ""), "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
        callback = form.get("StatusCallback", "")
        for status in ("initiated", "ringing"):
            time.sleep(self.step_delay)
            if callback:
                self._record(sid, status, self._post(callback, {**base, "CallStatus": status}))
        time.sleep(self.step_delay)
        text = ""
        if form.get("Url"):
            code, text = self._fetch_twiml(form["Url"], {**base, "CallStatus": "in-progress"})
            with self._lock:
                self.twiml[sid] = text
            self._record(sid, "twiml", code)
        time.sleep(self.step_delay)
        if callback:
            self._record(sid, "in-progress", self._post(callback, {**base, "CallStatus": "in-progress"}))
        rep_seconds = REP_HANGS_UP_SECONDS
        number = _dialled_number(text)
        if number is not None:
            rep_seconds = self._play_lead_leg(sid, base, number)
        time.sleep(self.step_delay)
        if callback:
            self._record(sid, "completed", self._post(callback, {**base, "CallStatus": "completed",
                                                                 "CallDuration": str(rep_seconds)}))
        with self._lock:
            self._done[sid].set()

    def _play_lead_leg(self, parent_sid: str, base: dict[str, str], number: ET.Element) -> int:
        """The child call to the lead; returns how long the rep's leg lasted with it."""
        child = {**base, "CallSid": "CA" + uuid.uuid4().hex, "ParentCallSid": parent_sid,
                 "To": (number.text or "").strip(), "Direction": "outbound-dial"}
        url = number.get("statusCallback", "")
        events = set((number.get("statusCallbackEvent") or "completed").split())

        def report(event: str, status: str, **extra: str) -> None:
            time.sleep(self.step_delay)
            if url and event in events:
                self._record(parent_sid, f"lead:{status}", self._post(url, {**child, "CallStatus": status, **extra}))

        report("ringing", "ringing")
        if not self.lead_answers:
            report("completed", "no-answer")
            return self.lead_ring_seconds
        report("answered", "in-progress")
        report("completed", "completed", CallDuration=str(self.talk_seconds))
        return self.lead_ring_seconds + self.talk_seconds

    # --- serving (called from the handler thread) -----------------------------------------

    def _create(self, form: dict[str, str]) -> dict:
        sid = "CA" + uuid.uuid4().hex
        with self._lock:
            self._done[sid] = threading.Event()
        threading.Thread(target=self._play, args=(sid, form), daemon=True).start()
        return {"sid": sid, "account_sid": self.account_sid, "to": form.get("To"), "from": form.get("From"),
                "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
                "uri": f"{API_PREFIX}{self.account_sid}/Calls/{sid}.json"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTwilioVoiceServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
        pass

    def do_POST(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        user, password = _basic_auth(self.headers.get("Authorization", ""))
        with fake._lock:
            fake.requests.append(VoiceRequest("POST", url.path, form, user))
        if (user, password) != (fake.account_sid, fake.auth_token):
            return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if url.path != f"{API_PREFIX}{fake.account_sid}/Calls.json":
            return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
        if fake.fail_with is not None:
            status, code = fake.fail_with
            return self._json(status, {"code": code, "message": "Fake failure", "status": status})
        if not form.get("To") or not form.get("From") or not form.get("Url"):
            return self._json(400, {"code": 21205, "message": "To, From and Url are required", "status": 400})
        return self._json(201, fake._create(form))

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _basic_auth(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


FakeTwilioVoiceServer.handler_class = _Handler

"""One Twilio API base URL in front of the SMS and the Voice fakes, as api.twilio.com is one host.

The product reads a single TWILIO_API_BASE_URL for texts and calls; a test that needs both
starts fakes/twilio_server.py and fakes/twilio_voice_server.py and points the product here:
`.../Calls.json` goes to the voice fake, everything else to the SMS fake (method, path, query,
headers and body passed through as they came; the answer passed back).

    with FakeTwilioServer(...) as sms, FakeTwilioVoiceServer(...) as voice, TwilioRouter(sms, voice) as twilio:
        env["TWILIO_API_BASE_URL"] = twilio.base_url
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from fakes.http_server import LocalServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class TwilioRouter(LocalServer):
    def __init__(self, sms: LocalServer, voice: LocalServer):
        self.sms, self.voice = sms, voice
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def target(self, path: str) -> str:
        fake = self.voice if path.split("?")[0].endswith("/Calls.json") else self.sms
        return fake.base_url

    def client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(timeout=60)
        return self._local.client


class _Handler(BaseHTTPRequestHandler):
    fake: TwilioRouter
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            answer = self.fake.client().request(self.command, self.fake.target(self.path) + self.path,
                                                content=body, headers=headers)
            status, content = answer.status_code, answer.content
            passed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | {"content-encoding"}}
        except httpx.HTTPError as exc:
            status, content, passed = 502, f"router: {exc}".encode(), {"Content-Type": "text/plain"}
        try:
            self.send_response(status)
            for name, value in passed.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _forward


TwilioRouter.handler_class = _Handler

"""A scriptable fake HTTP provider on 127.0.0.1, for tests and benchmarks.

Each path gets a queue of scripted responses (served first in, first out), or a function of
the request; anything else goes to the default handler (404 JSON when none). Every request
is recorded. Requests are served concurrently (one thread per connection, HTTP/1.1
keep-alive), so a benchmark can have many calls in flight against a fixed delay.

    with FakeServer() as fake:
        fake.add("/search.json", FakeResponse(429, headers={"Retry-After": "2"}), FakeResponse(body={"ok": 1}))
        fake.route("/search", lambda request: FakeResponse(body={"organic": []}))
        ...
        assert fake.requests[0].query["api_key"] == "test-key"

    server = FakeServer(default=lambda request: FakeResponse(body={...}, delay=0.05))
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class FakeResponse:
    status: int = 200
    # dict or list: sent as JSON; str or bytes: sent as is (e.g. malformed JSON); None: empty.
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to trip a client's timeout)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]  # the last value of each query parameter
    headers: httpx.Headers  # case-insensitive: request.headers["x-api-key"]
    body: bytes
    json: Any  # the decoded JSON body, None when there is none or it is not JSON
    received_at: float  # time.monotonic()


Handler = Callable[[RecordedRequest], FakeResponse]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout, a killed worker) before the answer: expected, not noise.
        pass


class LocalServer:
    """Start/stop/context manager for a threaded HTTP server on 127.0.0.1 (port 0: a free
    port) in a daemon thread. Subclasses set `handler_class` (with a `fake` attribute
    pointing back at the server object) and initialise `_server` and `_thread` to None."""

    handler_class: type[BaseHTTPRequestHandler]
    server_class: type[ThreadingHTTPServer] = _Server

    def start(self):
        handler = type(f"{type(self).__name__}Handler", (self.handler_class,), {"fake": self})
        server = self.server_class(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


class FakeServer(LocalServer):
    """A ThreadingHTTPServer on 127.0.0.1 (port 0: a free port) in a daemon thread."""

    def __init__(self, default: Handler | FakeResponse | None = None):
        self.default = default
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[FakeResponse]] = defaultdict(deque)
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------------

    def add(self, path: str, *responses: FakeResponse) -> None:
        """Queue responses for a path; each is served once, in order, before any route."""
        with self._lock:
            self._queues[path].extend(responses)

    def route(self, path: str, handler: Handler | FakeResponse) -> None:
        """Answer every request to a path (once its queue is empty) with this."""
        with self._lock:
            self._routes[path] = handler if callable(handler) else (lambda _request, r=handler: r)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queues.clear()

    # --- serving (handler threads) -------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get(request.path)
            if queue:
                return queue.popleft()
            handler = self._routes.get(request.path)
        if handler is None:
            handler = self.default
        if handler is None:
            return FakeResponse(404, body={"error": f"no scripted response for {request.path}"})
        return handler(request) if callable(handler) else handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections, as with real APIs

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer, and the benchmark measures that.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers=httpx.Headers(list(self.headers.items())),
            body=body,
            json=decoded,
            received_at=time.monotonic(),
        )
        response = self.fake._respond(request)
        if response.delay:
            time.sleep(response.delay)
        if isinstance(response.body, dict | list):
            payload = json.dumps(response.body).encode()
            content_type = "application/json"
        elif isinstance(response.body, str):
            payload, content_type = response.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = response.body or b"", "application/octet-stream"
        headers = {"Content-Type": content_type, **response.headers}
        try:
            self.send_response(response.status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format, *args) -> None:  # quiet test output
        pass


try:
    import pytest
except ImportError:  # benchmarks may run without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def fake_server():
        """A started FakeServer, stopped after the test. Import it into a conftest to use."""
        with FakeServer() as server:
            yield server


FakeServer.handler_class = _Handler

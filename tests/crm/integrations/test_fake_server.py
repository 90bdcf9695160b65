"""The fake provider server itself: default handler, scripted queues, recording, and answering
many requests at once (the benchmark relies on a fixed delay per request, in parallel)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from fakes.http_server import FakeResponse, FakeServer


def test_default_handler_answers_many_requests_at_once():
    # Twenty requests must be inside the handler together to pass the barrier: a server that
    # answered one at a time would break it (errors, not answers) rather than be merely slow,
    # so the test holds on a loaded machine too.
    together = threading.Barrier(20, timeout=30)

    def handler(request):
        together.wait()
        return FakeResponse(body={"path": request.path}, delay=0.05)

    with FakeServer(default=handler) as fake:
        with httpx.Client(base_url=fake.base_url, timeout=60) as client:
            with ThreadPoolExecutor(max_workers=20) as pool:
                answers = list(pool.map(lambda i: client.get(f"/item/{i}").json(), range(40)))

    assert answers == [{"path": f"/item/{i}"} for i in range(40)]
    assert len(fake.requests) == 40


def test_queue_then_route_then_404_and_recording():
    with FakeServer() as fake:
        fake.add("/a", FakeResponse(201, body={"n": 1}, headers={"X-Test": "yes"}))
        fake.route("/a", FakeResponse(body={"n": "always"}))
        with httpx.Client(base_url=fake.base_url, timeout=5) as client:
            first = client.post("/a?x=1&x=2", json={"hello": "world"}, headers={"X-API-KEY": "k"})
            second = client.get("/a")
            missing = client.get("/nowhere")

    assert (first.status_code, first.json(), first.headers["X-Test"]) == (201, {"n": 1}, "yes")
    assert second.json() == {"n": "always"}
    assert missing.status_code == 404
    request = fake.requests_to("/a")[0]
    assert (request.method, request.query, request.json) == ("POST", {"x": "2"}, {"hello": "world"})
    assert request.headers["x-api-key"] == "k"
    assert [r.path for r in fake.requests] == ["/a", "/a", "/nowhere"]

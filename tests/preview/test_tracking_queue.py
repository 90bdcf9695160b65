"""With Redis configured the endpoint queues events and a task writes them in batches,
applying the hot rule: no database write in the request, the same result."""

import json

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from crm.models import Lead, Notification, PreviewEvent
from crm.integrations import tracking_queue
from crm.services import preview_queue, tracking
from crm.services.tracking import tracking_nonce
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/12"  # per xdist worker below: 12, 11, 10 ...
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


@pytest.fixture(autouse=True)
def queued(settings, worker_id):
    global REDIS_URL
    # Each parallel test process empties a Redis database of its own.
    REDIS_URL = f"redis://127.0.0.1:6379/{12 - (int(worker_id[2:]) if worker_id.startswith('gw') else 0)}"
    settings.REDIS_URL = REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    cache.clear()
    yield
    redis.Redis.from_url(REDIS_URL).flushdb()


def post(lead, kind, **extra):
    body = {"type": kind, "session": "sess-0123456789", "nonce": tracking_nonce(lead.preview_token), **extra}
    return Client().post(f"/p/{lead.preview_token}/t/", json.dumps(body), content_type="application/json",
                         HTTP_USER_AGENT=BROWSER_UA)


def test_queued_events_are_written_and_the_third_view_makes_the_lead_hot(rep_user, django_assert_max_num_queries):
    lead = LeadFactory(assigned_rep=rep_user)
    post(lead, "view")  # warms the token cache
    with django_assert_max_num_queries(0):
        # The request itself reads and writes nothing in the database; the flush is a task
        # (run inline by django-q2's sync mode in tests, so it is patched out here).
        original = tracking.preview_events_flush_start
        tracking.preview_events_flush_start = lambda: None
        try:
            redis.Redis.from_url(REDIS_URL).delete(tracking_queue.FLUSH_FLAG)
            assert post(lead, "ping", seconds=15).status_code == 201
        finally:
            tracking.preview_events_flush_start = original
    assert post(lead, "view").status_code == 201
    assert post(lead, "view").status_code == 201
    preview_queue.preview_events_flush()
    lead.refresh_from_db()
    assert lead.preview_views == 3 and lead.preview_seconds == 15
    assert lead.priority == Lead.Priority.HOT
    assert Notification.objects.filter(recipient=rep_user, kind="hot_lead").count() == 1
    assert PreviewEvent.objects.filter(lead=lead).count() == 4
    assert redis.Redis.from_url(REDIS_URL).llen(tracking_queue.QUEUE_KEY) == 0


def test_unknown_tokens_are_404_and_bots_are_not_queued():
    lead = LeadFactory()
    body = {"type": "view", "session": "sess-0123456789", "nonce": tracking_nonce(lead.preview_token)}
    assert Client().post("/p/nope-nope-nope/t/", json.dumps(body), content_type="application/json",
                         HTTP_USER_AGENT=BROWSER_UA).status_code == 404
    response = Client().post(f"/p/{lead.preview_token}/t/", json.dumps(body), content_type="application/json",
                             HTTP_USER_AGENT="Twitterbot/1.0")
    assert response.json()["counted"] is False
    assert redis.Redis.from_url(REDIS_URL).llen(tracking_queue.QUEUE_KEY) == 0


def test_a_crashed_flush_is_redone_not_lost(monkeypatch):
    lead = LeadFactory()
    monkeypatch.setattr(tracking, "preview_events_flush_start", lambda: None)
    post(lead, "ping", seconds=10)
    monkeypatch.setattr(preview_queue, "_write_batch", lambda items: (_ for _ in ()).throw(RuntimeError("db down")))
    with pytest.raises(RuntimeError):
        preview_queue.preview_events_flush()
    assert redis.Redis.from_url(REDIS_URL).llen(tracking_queue.QUEUE_KEY) == 1
    monkeypatch.undo()
    assert preview_queue.preview_events_flush() == 1
    lead.refresh_from_db()
    assert lead.preview_seconds == 10


def test_an_event_is_one_round_trip_and_a_tokens_first_one_more_after_its_look_up(monkeypatch,
                                                                                 django_assert_num_queries):
    """Counting, the token and the queue are one Redis script per event; a token not seen within
    the hour is looked up once in the database and remembered with its event in one more."""
    lead = LeadFactory()
    monkeypatch.setattr(tracking, "preview_events_flush_start", lambda: None)
    calls = []
    for name in ("tracking_count_and_queue", "tracking_token_remember"):
        original = getattr(tracking, name)
        monkeypatch.setattr(tracking, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    with django_assert_num_queries(1):
        assert post(lead, "view").status_code == 201
    assert calls == ["tracking_count_and_queue", "tracking_token_remember"]
    calls.clear()
    with django_assert_num_queries(0):
        assert post(lead, "ping", seconds=15).status_code == 201
    assert calls == ["tracking_count_and_queue"]
    client = redis.Redis.from_url(REDIS_URL)
    assert client.get(tracking_queue.TOKEN_KEY + lead.preview_token) == str(lead.pk).encode()
    assert 3500 < client.ttl(tracking_queue.TOKEN_KEY + lead.preview_token) <= 3600
    assert client.llen(tracking_queue.QUEUE_KEY) == 2
    assert preview_queue.preview_events_flush() == 2
    lead.refresh_from_db()
    assert lead.preview_views == 1 and lead.preview_seconds == 15

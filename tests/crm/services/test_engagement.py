"""The engagement score has one home (crm/services/engagement.py), and every path that changes
a lead's counters (a tracked event in the request, the queued batch flush, a reply) gives the
score that formula gives."""

import json
import re
from pathlib import Path

import pytest
import redis
from django.test import Client

from crm.models import Lead, Message, WebhookEvent
from crm.services import preview_queue
from crm.services.engagement import engagement_score
from crm.services.messaging.inbound import sms_inbound_process
from crm.services.previews import preview_event_record
from crm.services.tracking import tracking_nonce
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
CRM = Path(__file__).resolve().parents[3] / "crm"


def test_the_formula_is_the_original_designs():
    assert engagement_score(views=3, clicks=1, messages=2, seconds=300) == pytest.approx(
        (3 * 10 + 1 * 20 + 2 * 15 + 5 * 5) / 100)


def test_no_other_module_writes_the_formula_again():
    copies = [str(path.relative_to(CRM)) for path in CRM.rglob("*.py")
              if path.name != "engagement.py" and "demo" not in path.parts
              and re.search(r"\*\s*15\b|\b0\.15\b|/\s*100(\.0)?\b.*engagement|engagement_score\s*=\s*\(", path.read_text())]
    assert copies == []


def test_the_request_path_the_flush_and_a_reply_agree(settings, worker_id):
    direct, queued = LeadFactory(), LeadFactory()
    for kind, seconds in (("view", 0), ("cta_click", 0), ("ping", 90)):
        preview_event_record(lead=direct, kind=kind, session_id="s-12345678", seconds=seconds)
    settings.REDIS_URL = f"redis://127.0.0.1:6379/{8 - (int(worker_id[2:]) if worker_id.startswith('gw') else 0)}"
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    try:
        for kind, seconds in (("view", 0), ("cta_click", 0), ("ping", 90)):
            body = {"type": kind, "session": "s-12345678", "seconds": seconds,
                    "nonce": tracking_nonce(queued.preview_token)}
            Client().post(f"/p/{queued.preview_token}/t/", json.dumps(body), content_type="application/json",
                          HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
        preview_queue.preview_events_flush()
    finally:
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    expected = engagement_score(views=1, clicks=1, messages=0, seconds=90)
    for lead in (direct, queued):
        lead.refresh_from_db()
        assert lead.engagement_score == pytest.approx(expected)
    event = WebhookEvent.objects.create(source="twilio_sms", event_id="SM" + "7" * 32,
                                        payload={"MessageSid": "SM" + "7" * 32, "From": direct.phone, "Body": "Hi"})
    sms_inbound_process(webhook_event=event)
    direct.refresh_from_db()
    assert Message.objects.filter(lead=direct, direction="in").count() == 1
    assert direct.engagement_score == pytest.approx(engagement_score(views=1, clicks=1, messages=1, seconds=90))
    assert Lead.objects.get(pk=direct.pk).inbound_messages == 1

"""Twilio webhooks while the database is down: Twilio does not retry them, so a signed STOP is
kept in the Redis spool (200) and stored, processed and honoured once the database is back."""

import pytest
import redis
from django.db import OperationalError
from django.test import Client

from crm.integrations import webhook_spool
from crm.models import Lead, WebhookEvent
from crm.services.webhook_spool import webhook_spool_drain
from crm.webhooks import twilio as views
from tests.crm.webhooks.test_twilio import (
    EMPTY_TWIML,
    SMS_PATH,
    STATUS_PATH,
    inbound_params,
    post,
    sign,
    status_params,
    twilio_settings,  # noqa: F401  (autouse: the auth token and public URL)
)
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def spool(settings, worker_id):
    url = f"redis://127.0.0.1:6379/{6 - (int(worker_id[2:]) if worker_id.startswith('gw') else 0)}"
    settings.REDIS_URL = url
    client = redis.Redis.from_url(url)
    client.delete(webhook_spool.SPOOL_KEY)
    yield client
    client.delete(webhook_spool.SPOOL_KEY)


@pytest.fixture
def database_down(monkeypatch):
    def refuse(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(views, "twilio_event_store", refuse)
    return monkeypatch


def test_a_stop_during_an_outage_is_spooled_then_honoured_once_the_database_is_back(spool, database_down):
    lead = LeadFactory(phone="+14155550100")
    params = inbound_params(sid="SM" + "5" * 32, body="STOP")
    response = post(Client(), SMS_PATH, params, sign(SMS_PATH, params))
    assert response.status_code == 200 and response.content.decode() == EMPTY_TWIML
    assert spool.llen(webhook_spool.SPOOL_KEY) == 1 and not WebhookEvent.objects.exists()

    database_down.undo()  # the database is back
    post(Client(), SMS_PATH, params, sign(SMS_PATH, params))  # and Twilio's own later copy, if any
    assert webhook_spool_drain()["stored"] == 1
    assert spool.llen(webhook_spool.SPOOL_KEY) == 0
    event = WebhookEvent.objects.get()  # one row for both copies
    assert event.processed_at is not None and event.error == ""
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert webhook_spool_drain() == {"busy": False, "stored": 0, "processed": 0}


def test_status_callbacks_are_spooled_too_and_stored_once(spool, database_down):
    params = status_params(sid="SM" + "6" * 32, status="delivered")
    for _ in range(2):  # the same callback twice during the outage
        assert post(Client(), STATUS_PATH, params, sign(STATUS_PATH, params)).status_code == 200
    database_down.undo()
    assert webhook_spool_drain()["stored"] == 2
    assert WebhookEvent.objects.filter(source="twilio_status").count() == 1


def test_a_forged_request_is_refused_before_the_spool(spool, database_down):
    params = inbound_params(body="STOP")
    assert post(Client(), SMS_PATH, params, "forged").status_code == 403
    assert spool.llen(webhook_spool.SPOOL_KEY) == 0


def test_without_redis_the_database_error_goes_on_and_nothing_claims_success(settings, database_down):
    settings.REDIS_URL = ""
    params = inbound_params(body="STOP")
    response = post(Client(raise_request_exception=False), SMS_PATH, params, sign(SMS_PATH, params))
    assert response.status_code >= 500  # Twilio is not told it was kept


def test_a_drain_that_fails_to_store_leaves_the_spool_for_the_next_one(spool, database_down):
    lead = LeadFactory(phone="+14155550100")
    params = inbound_params(sid="SM" + "7" * 32, body="STOP")
    post(Client(), SMS_PATH, params, sign(SMS_PATH, params))
    from crm.services import webhook_spool as service

    database_down.setattr(service, "twilio_event_store", views.twilio_event_store)  # still down for the worker
    with pytest.raises(OperationalError):
        webhook_spool_drain()
    assert spool.llen(webhook_spool.SPOOL_KEY) == 1  # kept
    database_down.undo()
    assert webhook_spool_drain()["stored"] == 1
    assert Lead.objects.get(pk=lead.pk).opted_out_at is not None

"""The same Stripe event delivered 10 times at the same moment: one stored row, one effect.
On PostgreSQL (CI's second pass) the ten requests run in ten threads, each on its own database
connection, released together; SQLite allows one writer, so there they run one after another."""

import threading

import pytest
import time_machine
from django.db import connection
from django.test import Client as WebClient

from crm.models import Client, Commission, MrrChange, Notification, Subscription, Transaction, WebhookEvent
from fakes.stripe_events import checkout_completed, signed
from tests.crm.services.billing.stripe_helpers import NOW, WEBHOOK_PATH, WEBHOOK_SECRET
from tests.factories import LeadFactory, RepUserFactory

DELIVERIES = 10


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=True)
def test_the_same_event_ten_times_at_once_stores_one_row_with_one_effect(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    lead = LeadFactory(assigned_rep=RepUserFactory(username="closer"))
    body, headers = signed(checkout_completed(lead_id=lead.pk, customer="cus_race", subscription="sub_race"),
                           secret=WEBHOOK_SECRET)
    statuses: list[int] = []
    start = threading.Barrier(DELIVERIES)

    def deliver() -> None:
        try:
            start.wait(timeout=30)
            response = WebClient().post(WEBHOOK_PATH, data=body, content_type="application/json",
                                        HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])
            statuses.append(response.status_code)
        finally:
            connection.close()  # this thread's own connection

    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=deliver) for _ in range(DELIVERIES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    else:
        start = threading.Barrier(1)
        for _ in range(DELIVERIES):
            deliver()

    assert statuses == [200] * DELIVERIES
    assert WebhookEvent.objects.count() == 1
    assert WebhookEvent.objects.get().processed_at is not None
    assert (Client.objects.count(), Subscription.objects.count(), Transaction.objects.count(),
            Commission.objects.count(), MrrChange.objects.count()) == (1, 1, 1, 1, 1)
    assert Notification.objects.filter(kind=Notification.Kind.PAYMENT).count() == 1

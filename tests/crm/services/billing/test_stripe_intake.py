"""Taking in a Stripe event: stored and acted on in one database transaction, once; an event
that waits for its customer is taken at once when that customer's checkout commits while the
event's own transaction is still open (the checkout could not see it then)."""

import pytest

from crm.models import Transaction, WebhookEvent
from crm.services.billing import stripe_events, stripe_intake
from fakes.stripe_events import invoice_event
from tests.crm.services.billing.stripe_helpers import NOW, clock, lead  # noqa: F401 - fixtures
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db
T0 = int(NOW.timestamp())


def paid(customer: str) -> dict:
    return invoice_event("invoice.paid", customer=customer, subscription="sub_none", amount=9_900, created=T0)


def test_a_new_event_is_stored_processed_and_acted_on(clock, lead):
    ClientFactory(lead=lead, stripe_customer_id="cus_known", rep=lead.assigned_rep)

    event = stripe_intake.stripe_event_accept(payload=paid("cus_known"))

    assert (event.processed_at, event.attempts, event.error) == (NOW, 1, "")
    assert Transaction.objects.get().provider_id == event.object_id


def test_an_event_whose_customer_commits_meanwhile_is_applied_at_once(clock, monkeypatch):
    ready = stripe_intake.stripe_event_ready

    def checkout_committed_meanwhile(payload):
        # The customer's checkout committed after this event found no client, before it committed.
        ClientFactory(stripe_customer_id="cus_late")
        return ready(payload)

    monkeypatch.setattr(stripe_intake, "stripe_event_ready", checkout_committed_meanwhile)

    event = stripe_intake.stripe_event_accept(payload=paid("cus_late"))

    assert event.processed_at == NOW and event.error == ""
    assert Transaction.objects.get().client.stripe_customer_id == "cus_late"


def test_an_event_still_waiting_stays_waiting_and_a_failure_is_not_retried_at_once(clock, monkeypatch):
    event = stripe_intake.stripe_event_accept(payload=paid("cus_nobody"))
    event.refresh_from_db()
    assert event.processed_at is None and event.attempts == 0 and "No client" in event.error

    calls = []
    monkeypatch.setitem(stripe_events.HANDLERS, "invoice.paid", lambda stored: calls.append(stored.event_id) or 1 / 0)
    failing = stripe_intake.stripe_event_accept(payload=paid("cus_other"))
    failing.refresh_from_db()
    assert (failing.processed_at, failing.attempts, len(calls)) == (None, 1, 1)
    assert "ZeroDivisionError" in failing.error


def test_a_redelivery_of_an_event_not_processed_yet_tries_it_again(clock):
    payload = paid("cus_later")
    stripe_intake.stripe_event_accept(payload=payload)  # waits: no client yet
    ClientFactory(stripe_customer_id="cus_later")

    again = stripe_intake.stripe_event_accept(payload=payload)

    assert WebhookEvent.objects.get().pk == again.pk and again.processed_at == NOW
    assert Transaction.objects.count() == 1

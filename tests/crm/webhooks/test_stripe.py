"""Stripe webhooks at /webhooks/stripe/: the real stripe SDK checks signatures over payloads
built from Stripe's object shapes; every event is stored once before it is acted on; duplicates
and out-of-order deliveries never add or undo an effect; failures are kept and replayed."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import (
    Client,
    Commission,
    CompanySettings,
    Enrollment,
    Lead,
    MrrChange,
    Notification,
    Subscription,
    TimelineEvent,
    Transaction,
    WebhookEvent,
)
from crm.services import webhooks
from crm.services.billing import stripe_events
from fakes.stripe_events import (
    charge_refunded,
    checkout_completed,
    event,
    invoice_event,
    new_id,
    shape,
    signed,
    subscription_event,
)
from tests.crm.services.billing.stripe_helpers import (  # noqa: F401 - fixtures
    NOW,
    WEBHOOK_PATH,
    clock,
    lead,
    post_event,
    stripe_secret,
)
from tests.factories import AdminUserFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db
T0 = int(NOW.timestamp())


@pytest.fixture
def admin(db):
    return AdminUserFactory(username="boss")


def paid_checkout(post_event, lead, *, customer="cus_test_rosa", subscription="sub_test_rosa", created=T0):
    payload = checkout_completed(lead_id=lead.pk, customer=customer, subscription=subscription, created=created)
    assert post_event(payload).status_code == 200
    return payload


def test_checkout_completed_makes_the_client_and_its_money(post_event, lead, admin, rep_user):
    enrollment = EnrollmentFactory(lead=lead)
    payload = paid_checkout(post_event, lead)

    client = Client.objects.get()
    assert (client.lead, client.name, client.email, client.rep) == (lead, "Rosa's Bakery", "rosa@example.com", rep_user)
    assert client.stripe_customer_id == "cus_test_rosa"
    sub = Subscription.objects.get()
    assert (sub.client, sub.amount_cents, sub.stripe_subscription_id, sub.started_at) == (
        client, 9_900, "sub_test_rosa", NOW)
    setup = Transaction.objects.get()
    assert (setup.kind, setup.amount_cents, setup.currency) == (Transaction.Kind.SETUP, 49_900, "usd")
    assert setup.provider_id == f"{payload['data']['object']['invoice']}:setup"
    commission = Commission.objects.get()
    assert (commission.rep, commission.transaction, commission.amount_cents, commission.rate) == (
        rep_user, setup, 4_990, Decimal("0.1000"))
    change = MrrChange.objects.get()
    assert (change.kind, change.delta_cents, change.source) == (
        MrrChange.Kind.NEW, 9_900, f"checkout:{payload['data']['object']['id']}")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.PAID
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    told = set(Notification.objects.filter(kind=Notification.Kind.PAYMENT).values_list("recipient__username", flat=True))
    assert told == {"rep_a", "boss"}
    assert TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.PAYMENT).count() == 1
    stored = WebhookEvent.objects.get()
    assert (stored.source, stored.event_id, stored.processed_at, stored.error) == (
        WebhookEvent.Source.STRIPE, payload["id"], NOW, "")


@pytest.mark.parametrize("how", ["bad", "missing", "ten_minutes_old", "other_secret", "body_changed"])
def test_a_bad_missing_or_stale_signature_is_400_and_nothing_is_stored(how, post_event, lead, stripe_secret):
    from django.test import Client as WebClient

    payload = checkout_completed(lead_id=lead.pk, customer="cus_x", subscription="sub_x")
    timestamp = T0 - 600 if how == "ten_minutes_old" else T0
    body, headers = signed(payload, secret="whsec_someone_else" if how == "other_secret" else stripe_secret,
                           timestamp=timestamp)
    signature = {"bad": f"t={T0},v1={'0' * 64}", "missing": None}.get(how, headers["Stripe-Signature"])
    if how == "body_changed":
        body = body.replace(b'"lead_id":"', b'"lead_id":"9')
    extra = {"HTTP_STRIPE_SIGNATURE": signature} if signature else {}

    response = WebClient().post(WEBHOOK_PATH, data=body, content_type="application/json", **extra)

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not Client.objects.exists()


def test_a_signature_inside_the_tolerance_is_accepted(post_event, lead):
    payload = checkout_completed(lead_id=lead.pk, customer="cus_x", subscription="sub_x")
    assert post_event(payload, timestamp=T0 - 290).status_code == 200
    assert Client.objects.count() == 1


def test_without_a_webhook_secret_everything_is_refused(post_event, lead, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    from django.test import Client as WebClient

    body, headers = signed(checkout_completed(lead_id=lead.pk, customer="c", subscription="s"), secret="whsec_x")
    response = WebClient().post(WEBHOOK_PATH, data=body, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_types_we_do_not_act_on_are_acknowledged_and_not_stored(post_event):
    response = post_event(event("customer.subscription.created", shape("subscription")))
    assert response.status_code == 200
    assert response.json() == {"received": True, "stored": False}
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("payload", [
    [1, 2, 3],
    {"id": "evt_1", "type": "invoice.paid", "created": "yesterday", "data": {"object": {"id": "in_1"}}},
    {"id": "not an id", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1"}}},
    {"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {}},
    {"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_\u0000"}}},
])
def test_a_signed_body_that_is_not_a_stripe_event_is_400(post_event, payload):
    assert post_event(payload).status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_signed_body_that_is_not_json_is_400(clock, stripe_secret):
    from stripe import WebhookSignature
    from django.test import Client as WebClient

    body = "not json {"
    header = WebhookSignature.generate_signature_header(body, stripe_secret, timestamp=T0)
    response = WebClient().post(WEBHOOK_PATH, data=body, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400


def test_the_same_event_again_is_200_with_no_second_effect(post_event, lead):
    payload = paid_checkout(post_event, lead)
    for _ in range(3):
        assert post_event(payload).status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert (Client.objects.count(), Transaction.objects.count(), Commission.objects.count(),
            MrrChange.objects.count()) == (1, 1, 1, 1)
    assert Notification.objects.filter(kind=Notification.Kind.PAYMENT).count() == 1


def test_the_same_checkout_in_a_new_event_is_not_paid_twice(post_event, lead):
    first = paid_checkout(post_event, lead)
    again = json.loads(json.dumps(first))
    again["id"] = new_id("evt")
    assert post_event(again).status_code == 200
    assert (Client.objects.count(), Transaction.objects.count(), Subscription.objects.count()) == (1, 1, 1)


def test_invoice_paid_before_checkout_completed_ends_with_one_client_and_both_transactions(post_event, lead):
    invoice_id = new_id("in")
    paid = invoice_event("invoice.paid", customer="cus_early", subscription="sub_early", amount=9_900,
                         setup_amount=49_900, invoice_id=invoice_id, created=T0)
    assert post_event(paid).status_code == 200
    waiting = WebhookEvent.objects.get()
    assert waiting.processed_at is None and waiting.attempts == 0 and "No client" in waiting.error
    assert not Client.objects.exists()

    checkout = checkout_completed(lead_id=lead.pk, customer="cus_early", subscription="sub_early",
                                  invoice=invoice_id, created=T0)
    assert post_event(checkout).status_code == 200

    client = Client.objects.get()
    kinds = dict(Transaction.objects.values_list("kind", "amount_cents"))
    assert kinds == {Transaction.Kind.SETUP: 49_900, Transaction.Kind.SUBSCRIPTION: 9_900}
    assert set(Transaction.objects.values_list("client", flat=True)) == {client.pk}
    assert Transaction.objects.get(kind=Transaction.Kind.SUBSCRIPTION).subscription.stripe_subscription_id == "sub_early"
    assert Commission.objects.filter(rep=client.rep).count() == 2
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_invoice_paid_is_one_transaction_per_invoice_with_its_commission(post_event, lead, rep_user):
    paid_checkout(post_event, lead)
    invoice = invoice_event("invoice.paid", customer="cus_test_rosa", subscription="sub_test_rosa", amount=9_900)
    post_event(invoice)
    again = json.loads(json.dumps(invoice))
    again["id"] = new_id("evt")  # Stripe re-sent the invoice in another event
    post_event(again)
    monthly = Transaction.objects.get(kind=Transaction.Kind.SUBSCRIPTION)
    assert (monthly.amount_cents, monthly.provider_id) == (9_900, invoice["data"]["object"]["id"])
    assert Commission.objects.get(transaction=monthly).amount_cents == 990


def test_payment_failed_marks_past_due_and_at_risk_and_tells_once_per_attempt(post_event, lead, admin):
    paid_checkout(post_event, lead)
    invoice_id = new_id("in")
    for attempt in (1, 1, 2):
        failed = invoice_event("invoice.payment_failed", customer="cus_test_rosa", subscription="sub_test_rosa",
                               amount=9_900, invoice_id=invoice_id, attempt=attempt, created=T0 + attempt)
        assert post_event(failed).status_code == 200  # attempt 1 twice: two events, one attempt

    sub = Subscription.objects.get()
    assert sub.status == Subscription.Status.PAST_DUE
    client = Client.objects.get()
    assert client.churn_risk and "Payment failed" in client.churn_risk_reason
    notices = Notification.objects.filter(kind=Notification.Kind.PAYMENT_FAILED)
    assert notices.count() == 4  # attempts 1 and 2, each to the rep and the admin
    assert set(notices.values_list("recipient__username", flat=True)) == {"rep_a", "boss"}

    recovered = invoice_event("invoice.paid", customer="cus_test_rosa", subscription="sub_test_rosa",
                              amount=9_900, invoice_id=invoice_id, created=T0 + 10)
    post_event(recovered)
    sub.refresh_from_db()
    client.refresh_from_db()
    assert sub.status == Subscription.Status.ACTIVE and not client.churn_risk


def test_subscription_updates_move_mrr_and_schedule_churn(post_event, lead):
    paid_checkout(post_event, lead)
    up = subscription_event("customer.subscription.updated", subscription="sub_test_rosa",
                            customer="cus_test_rosa", unit_amount=9_900, quantity=2, created=T0 + 60)
    down = subscription_event("customer.subscription.updated", subscription="sub_test_rosa",
                              customer="cus_test_rosa", unit_amount=14_900, quantity=1, cancel_at_period_end=True,
                              created=T0 + 120)
    post_event(up)
    post_event(down)

    moves = list(MrrChange.objects.order_by("occurred_at", "id").values_list("kind", "delta_cents", "mrr_after_cents"))
    assert moves == [("new", 9_900, 9_900), ("expansion", 9_900, 19_800), ("contraction", -4_900, 14_900)]
    sub = Subscription.objects.get()
    assert (sub.amount_cents, sub.quantity, sub.cancel_at_period_end, sub.stripe_state_at) == (
        14_900, 1, True, T0 + 120)
    client = Client.objects.get()
    assert client.churn_risk and client.churn_risk_reason.startswith("Cancellation scheduled")

    post_event(up)  # the older update again (a redelivery): nothing moves back
    sub.refresh_from_db()
    assert (sub.amount_cents, sub.quantity) == (14_900, 1)


def test_an_older_update_after_deleted_does_not_bring_the_subscription_back(post_event, lead):
    paid_checkout(post_event, lead)
    updated = subscription_event("customer.subscription.updated", subscription="sub_test_rosa",
                                 customer="cus_test_rosa", unit_amount=9_900, quantity=3, created=T0 + 60)
    deleted = subscription_event("customer.subscription.deleted", subscription="sub_test_rosa",
                                 customer="cus_test_rosa", status="canceled", created=T0 + 120)
    same_second = subscription_event("customer.subscription.updated", subscription="sub_test_rosa",
                                     customer="cus_test_rosa", unit_amount=9_900, created=T0 + 120)
    post_event(deleted)
    post_event(updated)
    post_event(same_second)

    sub = Subscription.objects.get()
    assert (sub.status, sub.quantity) == (Subscription.Status.CANCELED, 1)
    assert Client.objects.get().status == Client.Status.CHURNED
    assert list(MrrChange.objects.order_by("occurred_at", "id").values_list("kind", flat=True)) == ["new", "churn"]
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 4


def test_churn_within_the_clawback_window_takes_back_the_commission(post_event, lead, rep_user, clock):
    CompanySettings.objects.update_or_create(pk=1, defaults={"commission_clawback_days": 60})
    paid_checkout(post_event, lead)
    clock.move_to(NOW + timedelta(days=20))
    deleted = subscription_event("customer.subscription.deleted", subscription="sub_test_rosa",
                                 customer="cus_test_rosa", status="canceled", created=T0 + 20 * 86400)
    post_event(deleted)
    post_event(deleted)
    lines = list(Commission.objects.order_by("id").values_list("kind", "amount_cents"))
    assert lines == [("accrual", 4_990), ("churn_clawback", -4_990)]


def test_churn_after_the_clawback_window_keeps_the_commission(post_event, lead, clock):
    CompanySettings.objects.update_or_create(pk=1, defaults={"commission_clawback_days": 60})
    paid_checkout(post_event, lead)
    clock.move_to(NOW + timedelta(days=61))
    post_event(subscription_event("customer.subscription.deleted", subscription="sub_test_rosa",
                                  customer="cus_test_rosa", status="canceled", created=T0 + 61 * 86400))
    assert list(Commission.objects.values_list("kind", flat=True)) == ["accrual"]


def test_a_refund_is_a_negative_transaction_and_claws_back_commission_once(post_event, lead):
    paid_checkout(post_event, lead)
    charge_id = new_id("ch")
    partial = charge_refunded(customer="cus_test_rosa", amount=59_800, amount_refunded=10_000, charge_id=charge_id)
    more = charge_refunded(customer="cus_test_rosa", amount=59_800, amount_refunded=25_000, charge_id=charge_id)
    post_event(partial)
    post_event(more)
    post_event(partial)  # the older report again, as a new event
    partial_again = json.loads(json.dumps(partial))
    partial_again["id"] = new_id("evt")
    post_event(partial_again)

    refunds = list(Transaction.objects.filter(kind=Transaction.Kind.REFUND).order_by("id")
                   .values_list("amount_cents", flat=True))
    assert refunds == [-10_000, -15_000]
    clawbacks = list(Commission.objects.filter(kind=Commission.Kind.REFUND_CLAWBACK).order_by("id")
                     .values_list("amount_cents", flat=True))
    assert clawbacks == [-1_000, -1_500]


def test_a_failing_handler_keeps_its_error_is_retried_with_backoff_and_replayed_to_success(
        post_event, lead, monkeypatch, clock, admin_client):
    calls = {"n": 0}
    real = stripe_events.HANDLERS["checkout.session.completed"]

    def flaky(event):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("database hiccup")
        return real(event)

    monkeypatch.setitem(stripe_events.HANDLERS, "checkout.session.completed", flaky)
    payload = paid_checkout(post_event, lead)
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is None and stored.attempts == 1 and "database hiccup" in stored.error
    assert stored.next_attempt_at == NOW + webhooks.RETRY_BACKOFF[0]
    assert not Client.objects.exists()  # the failed attempt's writes were rolled back

    clock.move_to(NOW + timedelta(minutes=2))
    assert webhooks.webhook_events_retry() == {"due": 1, "processed": 0}  # fails again: later
    stored.refresh_from_db()
    assert stored.attempts == 2 and stored.next_attempt_at == timezone.now() + webhooks.RETRY_BACKOFF[1]

    response = admin_client.post("/admin/crm/webhookevent/", {"action": "process_again", "_selected_action": [stored.pk]})
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == ""
    assert Client.objects.get().lead == lead
    assert Transaction.objects.count() == 1
    assert post_event(payload).status_code == 200 and calls["n"] == 3  # a redelivery runs nothing


@pytest.mark.parametrize("change", [{"payment_status": "unpaid"}, {"metadata": {}, "client_reference_id": None},
                                    {"metadata": {"lead_id": "999999"}}])
def test_a_checkout_that_is_unpaid_or_not_for_a_lead_of_ours_is_stored_and_ignored(post_event, lead, change):
    payload = checkout_completed(lead_id=lead.pk, customer="cus_x", subscription="sub_x")
    payload["data"]["object"].update(change)
    assert post_event(payload).status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    assert not Client.objects.exists() and not Transaction.objects.exists()


def test_each_event_costs_a_bounded_number_of_queries(post_event, lead, admin, django_assert_max_num_queries):
    created = iter(range(T0, T0 + 100))
    # Each event is stored and acted on in one database transaction (BEGIN, the INSERT, the
    # handler in a savepoint, the row marked processed, COMMIT); a checkout also creates the
    # company settings row here, and then looks for events that waited for its customer.
    stories = [
        (checkout_completed(lead_id=lead.pk, customer="cus_q", subscription="sub_q", created=next(created)), 34),
        (invoice_event("invoice.paid", customer="cus_q", subscription="sub_q", amount=9_900, setup_amount=49_900,
                       created=next(created)), 15),
        (subscription_event("customer.subscription.updated", subscription="sub_q", customer="cus_q", quantity=2,
                            created=next(created)), 15),
        (invoice_event("invoice.payment_failed", customer="cus_q", subscription="sub_q", amount=9_900,
                       created=next(created)), 17),
        (charge_refunded(customer="cus_q", amount=59_800, amount_refunded=5_000, created=next(created)), 17),
        (subscription_event("customer.subscription.deleted", subscription="sub_q", customer="cus_q",
                            status="canceled", created=next(created)), 20),
    ]
    for payload, limit in stories:
        with django_assert_max_num_queries(limit):
            assert post_event(payload).status_code == 200
    with django_assert_max_num_queries(5):  # a duplicate: its INSERT refused and rolled back, the stored row read
        post_event(stories[0][0])
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()


def test_only_the_checkouts_first_invoice_leaves_its_one_time_line_to_the_checkout(post_event, lead):
    paid_checkout(post_event, lead)
    later = invoice_event("invoice.paid", customer="cus_test_rosa", subscription="sub_test_rosa", amount=9_900,
                          setup_amount=20_000)  # a one-off line added to a renewal: charged, so recorded
    later["data"]["object"]["billing_reason"] = "subscription_cycle"
    post_event(later)
    assert Transaction.objects.get(kind=Transaction.Kind.SUBSCRIPTION).amount_cents == 29_900

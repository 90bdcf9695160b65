"""/api/v1/revenue (admins: the Revenue page's numbers) and /api/v1/notifications (your own)."""

from datetime import timedelta

from django.utils import timezone

from crm.models import MrrChange, Notification
from tests.factories import NotificationFactory, SubscriptionFactory


def test_revenue_is_mrr_arr_and_movements_for_admins_only(admin_api, rep_api):
    subscription = SubscriptionFactory(amount_cents=9900, quantity=1, interval="month", status="active")
    MrrChange.objects.create(client=subscription.client, subscription=subscription, kind="new", delta_cents=9900,
                             mrr_after_cents=9900, occurred_at=timezone.now() - timedelta(days=1), source="t1")
    body = admin_api.get("/revenue").json()
    assert (body["mrr_cents"], body["arr_cents"]) == (9900, 118800)
    assert body["movements"][-1]["new_cents"] == 9900 and body["movements"][-1]["mrr_end_cents"] == 9900
    assert len(body["movements"]) == 12 and body["currency"]
    refused = rep_api.get("/revenue")
    assert refused.status_code == 403 and "mrr_cents" not in refused.content.decode()


def test_notifications_are_your_own_and_marked_read(rep_api, rep_user, other_rep):
    mine = NotificationFactory(recipient=rep_user, text="Alpha is hot")
    theirs = NotificationFactory(recipient=other_rep, text="Bravo is hot")
    listed = rep_api.get("/notifications").json()["items"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert rep_api.post(f"/notifications/{theirs.pk}/read").status_code == 404
    assert rep_api.post(f"/notifications/{mine.pk}/read").json() == {"marked": 1}
    assert rep_api.get("/notifications", unread="true").json()["items"] == []
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    NotificationFactory(recipient=rep_user)
    assert rep_api.post("/notifications/read").json() == {"marked": 1}
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_a_cursor_of_anything_but_ascii_digits_is_422_not_a_server_error(rep_api, rep_user):
    NotificationFactory.create_batch(3, recipient=rep_user)
    first = rep_api.get("/notifications", limit=2).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(rep_api.get("/notifications", cursor=first["next_cursor"]).json()["items"]) == 1
    for bad in ("²", "1²", "١٢", "1" * 19, "-1", "1.5"):
        response = rep_api.get("/notifications", cursor=bad)
        assert response.status_code == 422, (bad, response.status_code)
        assert response.json()["error"]["fields"] == {"cursor": ["is not valid"]}

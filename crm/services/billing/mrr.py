"""MRR movements, as ChartMogul defines them, recorded when a client's MRR changes.

Every path that changes a subscription's amount, quantity, interval or status (Stripe webhooks,
"Record payment", "Mark won", demo data) saves the subscription, then calls
`mrr_change_record` in the same transaction. The client's MRR after the change is the sum of
its subscriptions' MRR; before it, the `mrr_after_cents` of the change recorded last (whatever
its `occurred_at`), so the deltas always add up to the MRR now. Kinds:

- new: from 0, and the client never had MRR before;
- reactivation: from 0, after an earlier churn;
- churn: to 0;
- expansion / contraction: up / down between two non-zero amounts.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery

from crm.models import Client, MrrChange, Subscription


def client_mrr_cents(client_id: int) -> int:
    """The client's MRR now: the sum over its subscriptions, as saved."""
    return sum(sub.mrr_cents for sub in Subscription.objects.filter(client_id=client_id)
               .only("amount_cents", "quantity", "interval", "status"))


def mrr_change_kind(*, before: int, after: int, had_mrr: bool) -> str | None:
    """The movement from `before` to `after` cents (None when nothing moved)."""
    if before == after:
        return None
    if before == 0:
        return MrrChange.Kind.REACTIVATION if had_mrr else MrrChange.Kind.NEW
    if after == 0:
        return MrrChange.Kind.CHURN
    return MrrChange.Kind.EXPANSION if after > before else MrrChange.Kind.CONTRACTION


def mrr_change_record(*, subscription: Subscription, occurred_at: datetime, source: str,
                      client_created: bool = False) -> MrrChange | None:
    """Record the client's MRR movement caused by `source` (a Stripe event id, "checkout:<id>",
    ...), once: the same source for the same subscription records nothing the second time.
    Returns the new row, or None when the MRR did not move or `source` was recorded already.
    `client_created`: the client was inserted in this database transaction (no other writer can
    see it), so it has no earlier movement and no other subscription: nothing to read."""
    changes = MrrChange.objects.filter(client_id=OuterRef("pk"))
    with transaction.atomic(savepoint=False):
        if client_created:
            before, seen, after = None, False, subscription.mrr_cents
        else:
            # One writer per client at a time (the row locked), so `before` is the last change's
            # `after`: the last one recorded (ids follow the order changes were applied, under
            # this lock), not the latest `occurred_at`, so events processed out of order still
            # chain. The lock, the last change and whether `source` was recorded: one query.
            before, seen = (Client.objects.select_for_update(of=("self",)).filter(pk=subscription.client_id)
                            .annotate(before=Subquery(changes.order_by("-id").values("mrr_after_cents")[:1]),
                                      seen=Exists(changes.filter(subscription=subscription, source=source)))
                            .values_list("before", "seen").get())
            after = None if seen else client_mrr_cents(subscription.client_id)
        if seen:
            return None
        kind = mrr_change_kind(before=before or 0, after=after, had_mrr=before is not None)
        if kind is None:
            return None
        return MrrChange.objects.create(
            client_id=subscription.client_id, subscription=subscription, kind=kind, delta_cents=after - (before or 0),
            mrr_after_cents=after, currency=subscription.currency, occurred_at=occurred_at, source=source,
        )

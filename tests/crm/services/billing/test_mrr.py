"""MRR movements against a worked month-by-month example: four clients over January-April 2026,
each change made by saving a Subscription and calling `mrr_change_record`, as every billing
path does. Amounts in cents; every change at midday UTC in the middle of a month (the site's
zone is New York, so no change sits near a month boundary).

    client  when     what                                     movement       client MRR after
    A       Jan 05   subscribes 100.00/month                  new +10,000    10,000
    B       Jan 15   subscribes 50.00/month                   new +5,000     5,000
    A       Feb 10   quantity 1 -> 2                          expansion      20,000
                                                              +10,000
    C       Feb 20   subscribes 1,200.00/year (= 100/month)   new +10,000    10,000
    B       Mar 03   plan 50.00 -> 30.00                      contraction    3,000
                                                              -2,000
    A       Mar 12   cancels                                  churn -20,000  0
    D       Mar 20   subscribes 80.00/month                   new +8,000     8,000
    D       Mar 25   adds a second 20.00/month subscription   expansion      10,000
                                                              +2,000
    C       Apr 08   payment fails: past due (still MRR)      none           10,000
    A       Apr 14   subscribes again at 150.00/month         reactivation   15,000
                                                              +15,000

    month   new     expansion  contraction  churn    reactivation  net      MRR at end
    Jan     15,000  0          0            0        0             15,000   15,000
    Feb     10,000  10,000     0            0        0             20,000   35,000
    Mar     8,000   2,000      -2,000       -20,000  0             -12,000  23,000
    Apr     0       0          0            0        15,000        15,000   38,000

MRR now, from the subscriptions: A 15,000 + B 3,000 + C 10,000 + D 8,000 + 2,000 = 38,000.
Churn rate over the 3 full months before April: January starts at 0 (left out), February
0 / 15,000 = 0, March 20,000 / 35,000 = 0.571428...; average 0.285714...
"""

from datetime import datetime, timezone as dt_timezone

import pytest
import time_machine

from crm.models import MrrChange, Subscription
from crm.selectors.revenue import churn_rate, mrr_cents_now, mrr_movements_by_month
from crm.services.billing.mrr import mrr_change_kind, mrr_change_record
from tests.factories import ClientFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)
K = MrrChange.Kind


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def day(month: int, d: int) -> datetime:
    return datetime(2026, month, d, 12, 0, tzinfo=UTC)


def save(sub: Subscription, at: datetime, source: str, **changes) -> MrrChange | None:
    for field, value in changes.items():
        setattr(sub, field, value)
    sub.save()
    return mrr_change_record(subscription=sub, occurred_at=at, source=source)


def start(client, at: datetime, source: str, **fields) -> tuple[Subscription, MrrChange | None]:
    sub = SubscriptionFactory(client=client, started_at=at, **fields)
    return sub, mrr_change_record(subscription=sub, occurred_at=at, source=source)


@pytest.fixture
def worked_example():
    """The table above, change by change; returns every recorded movement in order."""
    a, b, c, d = (ClientFactory(name=n) for n in "ABCD")
    recorded = []
    a_sub, moved = start(a, day(1, 5), "evt_a1", amount_cents=10_000)
    recorded.append(moved)
    b_sub, moved = start(b, day(1, 15), "evt_b1", amount_cents=5_000)
    recorded.append(moved)
    recorded.append(save(a_sub, day(2, 10), "evt_a2", quantity=2))
    c_sub, moved = start(c, day(2, 20), "evt_c1", amount_cents=120_000, interval="year")
    recorded.append(moved)
    recorded.append(save(b_sub, day(3, 3), "evt_b2", amount_cents=3_000))
    recorded.append(save(a_sub, day(3, 12), "evt_a3", status=Subscription.Status.CANCELED, canceled_at=day(3, 12)))
    _, moved = start(d, day(3, 20), "evt_d1", amount_cents=8_000)
    recorded.append(moved)
    _, moved = start(d, day(3, 25), "evt_d2", amount_cents=2_000)
    recorded.append(moved)
    recorded.append(save(c_sub, day(4, 8), "evt_c2", status=Subscription.Status.PAST_DUE))
    _, moved = start(a, day(4, 14), "evt_a4", amount_cents=15_000)
    recorded.append(moved)
    return recorded


def test_each_change_is_classified_as_the_table_says(worked_example):
    shown = [(m.client.name, m.kind, m.delta_cents, m.mrr_after_cents) if m else None for m in worked_example]

    assert shown == [
        ("A", K.NEW, 10_000, 10_000),
        ("B", K.NEW, 5_000, 5_000),
        ("A", K.EXPANSION, 10_000, 20_000),
        ("C", K.NEW, 10_000, 10_000),
        ("B", K.CONTRACTION, -2_000, 3_000),
        ("A", K.CHURN, -20_000, 0),
        ("D", K.NEW, 8_000, 8_000),
        ("D", K.EXPANSION, 2_000, 10_000),
        None,  # past due: the MRR did not move
        ("A", K.REACTIVATION, 15_000, 15_000),
    ]


def test_the_selector_gives_the_per_month_totals_of_the_table(worked_example):
    months = mrr_movements_by_month(now=NOW, months=4)

    table = [(f"{m.month:%b}", m.new_cents, m.expansion_cents, m.contraction_cents, m.churn_cents,
              m.reactivation_cents, m.net_cents, m.mrr_end_cents) for m in months]
    assert table == [
        ("Jan", 15_000, 0, 0, 0, 0, 15_000, 15_000),
        ("Feb", 10_000, 10_000, 0, 0, 0, 20_000, 35_000),
        ("Mar", 8_000, 2_000, -2_000, -20_000, 0, -12_000, 23_000),
        ("Apr", 0, 0, 0, 0, 15_000, 15_000, 38_000),
    ]


def test_older_months_carry_into_the_opening_mrr(worked_example):
    # Shown from March only: January's and February's changes open March at 35,000.
    months = mrr_movements_by_month(now=NOW, months=2)

    assert [(m.net_cents, m.mrr_end_cents) for m in months] == [(-12_000, 23_000), (15_000, 38_000)]


def test_mrr_now_matches_the_ledger(worked_example):
    assert mrr_cents_now() == 38_000 == sum(MrrChange.objects.values_list("delta_cents", flat=True))


def test_churn_rate_over_the_last_three_full_months(worked_example):
    rate, months = churn_rate(now=NOW)

    assert months == 2  # January started at 0 MRR
    assert rate == pytest.approx((0 + 20_000 / 35_000) / 2)


def test_the_same_source_twice_records_once(worked_example):
    sub = Subscription.objects.get(client__name="B")
    sub.amount_cents = 4_000
    sub.save()

    first = mrr_change_record(subscription=sub, occurred_at=day(4, 15), source="evt_b3")
    second = mrr_change_record(subscription=sub, occurred_at=day(4, 16), source="evt_b3")

    assert (first.kind, first.delta_cents) == (K.EXPANSION, 1_000)
    assert second is None
    assert MrrChange.objects.filter(source="evt_b3").count() == 1


@pytest.mark.parametrize(("before", "after", "had_mrr", "kind"), [
    (0, 100, False, K.NEW),
    (0, 100, True, K.REACTIVATION),
    (100, 0, True, K.CHURN),
    (100, 150, True, K.EXPANSION),
    (150, 100, True, K.CONTRACTION),
    (100, 100, True, None),
])
def test_kinds(before, after, had_mrr, kind):
    assert mrr_change_kind(before=before, after=after, had_mrr=had_mrr) == kind


def test_a_change_recorded_late_still_chains_from_the_last_one_recorded():
    # Two subscriptions of one client whose events are processed out of order: the second
    # subscription's start (5 March) is recorded after the first's (10 March). The next change
    # must start from the MRR the ledger holds (15,000), so the deltas keep adding up to it.
    client = ClientFactory(name="E")
    first, _ = start(client, day(3, 10), "evt_e1", amount_cents=10_000)
    _, late = start(client, day(3, 5), "evt_e2", amount_cents=5_000)
    cancel = save(first, day(3, 20), "evt_e3", status=Subscription.Status.CANCELED)

    assert (late.kind, late.delta_cents, late.mrr_after_cents) == (K.EXPANSION, 5_000, 15_000)
    assert (cancel.kind, cancel.delta_cents, cancel.mrr_after_cents) == (K.CONTRACTION, -10_000, 5_000)
    assert sum(MrrChange.objects.filter(client=client).values_list("delta_cents", flat=True)) == 5_000 == mrr_cents_now()


def test_a_client_created_in_this_transaction_starts_new_without_reading_anything(django_assert_num_queries):
    sub = SubscriptionFactory(client=ClientFactory(name="F"), amount_cents=9_900, quantity=2)

    with django_assert_num_queries(1):  # the INSERT
        change = mrr_change_record(subscription=sub, occurred_at=day(4, 1), source="checkout:f", client_created=True)

    assert (change.kind, change.delta_cents, change.mrr_after_cents) == (K.NEW, 19_800, 19_800)
    # The same movement read the usual way: the same row would have been written.
    assert mrr_change_record(subscription=sub, occurred_at=day(4, 1), source="checkout:f") is None

"""The lead list stays cheap as the table grows: fixed query count, no full COUNT(*)."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import models as m
from crm.admin import paginator as paginator_module
from crm.admin.paginator import EstimatedCountPaginator, estimated_count
from tests import factories as f

LEAD_LIST = reverse("admin:crm_lead_changelist")
MAX_QUERIES = 12


def _lead_list_queries(client) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LEAD_LIST)
    assert response.status_code == 200
    return ctx


def _count_queries_over_leads(ctx) -> list[str]:
    return [
        q["sql"] for q in ctx.captured_queries
        if "COUNT(" in q["sql"].upper() and re.search(r'\bFROM "crm_lead"', q["sql"])
    ]


def _assert_counts_are_capped(ctx) -> None:
    """Every COUNT over crm_lead counts a LIMITed subquery, never the whole table."""
    counts = _count_queries_over_leads(ctx)
    assert counts, "the list counted nothing: the check below would be vacuous"
    for sql in counts:
        assert re.search(r"COUNT\(\*\).*FROM \(SELECT .* LIMIT \d+\) subquery", sql, re.S), sql


def _grow(reps, total: int) -> None:
    """Top the lead table up to `total` leads, spread over `reps` (None: unassigned)."""
    for i in range(m.Lead.objects.count(), total):
        f.LeadFactory(assigned_rep=reps[i % len(reps)])


def test_lead_admin_never_shows_a_full_count():
    lead_admin = admin.site._registry[m.Lead]
    assert lead_admin.show_full_result_count is False
    assert lead_admin.paginator is EstimatedCountPaginator


@pytest.mark.parametrize("viewer", ["admin", "rep"])
def test_lead_list_query_count_does_not_grow_with_rows(
    admin_client, rep_client, rep_user, viewer, django_assert_max_num_queries
):
    client = admin_client if viewer == "admin" else rep_client
    # Leads of several reps, so an N+1 on assigned_rep would show as extra queries.
    reps = [rep_user] if viewer == "rep" else [rep_user, *f.RepUserFactory.create_batch(3), None]
    _grow(reps, 5)
    client.get(LEAD_LIST)  # warm per-process caches (content types, permissions)

    small = _lead_list_queries(client)
    _grow(reps, 60)
    with django_assert_max_num_queries(MAX_QUERIES):
        large = _lead_list_queries(client)

    assert len(small) == len(large), "\n".join(q["sql"] for q in large.captured_queries)
    _assert_counts_are_capped(small)
    _assert_counts_are_capped(large)


def test_lead_list_pages_without_counting_the_table(admin_client, rep_user):
    _grow([rep_user], 60)
    response = admin_client.get(LEAD_LIST, {"p": 2})
    cl = response.context["cl"]
    assert cl.result_count == 60
    assert len(cl.result_list) == 10  # list_per_page is 50
    assert cl.full_result_count is None


def test_paginator_counts_exactly_under_the_limit(db):
    f.LeadFactory.create_batch(7)
    paginator = EstimatedCountPaginator(m.Lead.objects.order_by("-id"), 5)
    with CaptureQueriesContext(connection) as ctx:
        assert paginator.count == 7
    assert paginator.is_estimate is False
    assert paginator.num_pages == 2
    assert len(ctx) == 1
    assert "LIMIT" in ctx.captured_queries[0]["sql"]


def test_paginator_over_the_limit_uses_the_planner_estimate(db, monkeypatch):
    monkeypatch.setattr(paginator_module, "EXACT_COUNT_LIMIT", 3)
    f.LeadFactory.create_batch(10)
    queryset = m.Lead.objects.order_by("-created_at", "-id")
    paginator = EstimatedCountPaginator(queryset, 5)

    with CaptureQueriesContext(connection) as ctx:
        count = paginator.count

    sql = [q["sql"] for q in ctx.captured_queries]
    if connection.vendor != "postgresql":
        # No planner estimate off PostgreSQL: the paginator falls back to an exact count.
        assert estimated_count(queryset) is None
        assert count == 10
        assert paginator.is_estimate is False
        return
    estimate = estimated_count(queryset)
    assert isinstance(estimate, int)
    assert paginator.is_estimate is True
    assert count == max(estimate, 4)  # never below the capped count (limit + 1)
    assert any(s.startswith("EXPLAIN") for s in sql)
    full_counts = [s for s in sql if "COUNT(" in s.upper() and "LIMIT" not in s]
    assert not full_counts, full_counts


def test_lead_list_over_the_limit_still_opens(admin_client, rep_client, rep_user, monkeypatch):
    monkeypatch.setattr(paginator_module, "EXACT_COUNT_LIMIT", 3)
    _grow([rep_user], 8)
    for client in (admin_client, rep_client):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(LEAD_LIST)
        assert response.status_code == 200
        cl = response.context["cl"]
        assert {lead.pk for lead in cl.result_list} == set(m.Lead.objects.values_list("pk", flat=True))
        if connection.vendor == "postgresql":
            assert cl.result_count >= 4
            assert not [q["sql"] for q in ctx.captured_queries
                        if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"]]
        else:
            assert cl.result_count == 8


@pytest.mark.parametrize("viewer", ["admin", "rep"])
def test_lead_export_query_count_does_not_grow_with_rows(admin_client, rep_client, rep_user, viewer):
    client = admin_client if viewer == "admin" else rep_client
    reps = [rep_user] if viewer == "rep" else [rep_user, *f.RepUserFactory.create_batch(3), None]
    formats = admin.site._registry[m.Lead].get_export_formats()
    csv_index = str(next(i for i, fmt in enumerate(formats) if fmt().get_title() == "csv"))

    def export() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(reverse("admin:crm_lead_export"), {"format": csv_index, "resource": "0"})
        assert response.status_code == 200
        return len(ctx), response.content.decode().count("\n") - 1

    _grow(reps, 5)
    export()  # warm per-process caches
    small_queries, small_rows = export()
    _grow(reps, 60)
    large_queries, large_rows = export()

    assert (small_rows, large_rows) == (5, 60)
    assert small_queries == large_queries


# --- Search and sort (crm.selectors.lead_search; indexes from migration 0013) --------------------


def _listed(client, **params) -> list[str]:
    response = client.get(LEAD_LIST, params)
    assert response.status_code == 200
    return [lead.business_name for lead in response.context["cl"].result_list]


def test_search_box_finds_a_phone_as_typed_and_words_of_a_name(admin_client, rep_user):
    f.LeadFactory(business_name="Maple Street Bakery", phone="+12125550143", city="Albany")
    f.LeadFactory(business_name="Oak Dental", phone="+14155550199", city="Troy")

    assert _listed(admin_client, q="(212) 555-0143") == ["Maple Street Bakery"]
    assert _listed(admin_client, q="street maple") == ["Maple Street Bakery"]
    assert _listed(admin_client, q="troy") == ["Oak Dental"]


def test_a_reps_search_never_reaches_another_reps_leads(rep_client, rep_user, other_rep):
    f.LeadFactory(business_name="Mine Bakery", phone="+12125550143", assigned_rep=rep_user)
    f.LeadFactory(business_name="Theirs Bakery", phone="+14155550199", assigned_rep=other_rep)

    assert _listed(rep_client, q="bakery") == ["Mine Bakery"]
    assert _listed(rep_client, q="(415) 555-0199") == []


def test_sorting_by_engagement_score_puts_the_most_engaged_first(admin_client):
    for score in (1.5, 9.0, 4.2):
        f.LeadFactory(business_name=f"Score {score}", engagement_score=score)

    assert _listed(admin_client, o="-7") == ["Score 9.0", "Score 4.2", "Score 1.5"]


@pytest.mark.parametrize("params", [{"q": "business"}, {"q": "(212) 555-0143"}, {"o": "-7"}],
                         ids=["search-words", "search-phone", "sort-score"])
@pytest.mark.parametrize("viewer", ["admin", "rep"])
def test_search_and_sort_query_counts_do_not_grow_with_rows(
    admin_client, rep_client, rep_user, viewer, params, django_assert_max_num_queries
):
    client = admin_client if viewer == "admin" else rep_client
    reps = [rep_user] if viewer == "rep" else [rep_user, *f.RepUserFactory.create_batch(3), None]
    _grow(reps, 5)
    client.get(LEAD_LIST, params)  # warm per-process caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LEAD_LIST, params).status_code == 200
        return len(ctx)

    small = queries()
    _grow(reps, 60)
    with django_assert_max_num_queries(MAX_QUERIES):
        large = queries()
    assert small == large

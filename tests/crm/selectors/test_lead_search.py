"""The lead list's search box: a phone however typed, or every word in the name, email or city,
found by an index on PostgreSQL."""

import pytest
from django.db import connection

from crm.models import CompanySettings, Lead
from crm.selectors.lead_search import leads_search
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def leads(rep_user):
    return {
        "maple": LeadFactory(business_name="Maple Street Bakery", phone="+12125550143", email="hi@maple.example",
                             city="Albany", assigned_rep=rep_user),
        "oak": LeadFactory(business_name="Oak Dental", phone="+14155550199", email="desk@oakdental.example",
                           city="San Francisco"),
        "odd": LeadFactory(business_name="100% Natural_Foods", phone="+13125550100", email="", city="Chicago"),
    }


def _found(term: str, queryset=None) -> list[str]:
    queryset = Lead.objects.all() if queryset is None else queryset
    return sorted(leads_search(queryset=queryset, term=term).values_list("business_name", flat=True))


@pytest.mark.parametrize("typed", ["(212) 555-0143", "212-555-0143", "212.555.0143", "+1 212 555 0143",
                                   "12125550143", "+12125550143", " 2125550143 "])
def test_a_phone_is_found_however_it_is_typed(leads, typed):
    assert _found(typed) == ["Maple Street Bakery"]


def test_a_phone_is_read_in_the_companys_region(leads):
    company = CompanySettings.load()
    company.default_region = "GB"
    company.save()
    LeadFactory(business_name="London Cafe", phone="+442071234567")

    assert _found("020 7123 4567") == ["London Cafe"]
    assert _found("+1 212 555 0143") == ["Maple Street Bakery"]  # a country code wins


def test_every_word_must_be_in_the_name_email_or_city(leads):
    assert _found("maple bakery") == ["Maple Street Bakery"]
    assert _found("BAKERY albany") == ["Maple Street Bakery"]  # name and city, any case
    assert _found("oakdental") == ["Oak Dental"]  # in the email
    assert _found("dental albany") == []
    assert _found("san francisco") == ["Oak Dental"]


def test_like_wildcards_in_a_word_are_plain_characters(leads):
    assert _found("%") == ["100% Natural_Foods"]
    assert _found("o%l") == []  # as a wildcard it would match "Oak Dental"
    assert _found("oak_dental") == []  # "_" would match the space
    assert _found("natural_") == ["100% Natural_Foods"]


def test_digits_too_few_for_a_phone_are_words(leads):
    assert _found("100") == ["100% Natural_Foods"]
    assert _found("555") == []  # not a phone, and no name, email or city holds it


def test_an_empty_term_changes_nothing(leads):
    assert _found("   ") == sorted(lead.business_name for lead in leads.values())


def test_the_search_stays_within_the_queryset_it_is_given(leads, rep_user):
    own = Lead.objects.filter(assigned_rep=rep_user)

    assert _found("Maple", own) == ["Maple Street Bakery"]
    assert _found("Oak", own) == []
    assert _found("(415) 555-0199", own) == []


def _plan(queryset, *disabled: str) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for plan_kind in ("seqscan", *disabled):  # a tiny table: ask whether the index can serve
                cursor.execute(f"SET LOCAL enable_{plan_kind} = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row) for row in cursor.fetchall())


def test_words_and_the_score_sort_are_served_by_indexes(leads):
    by_words = leads_search(queryset=Lead.objects.order_by(), term="maple bakery")
    by_score = Lead.objects.order_by("-engagement_score", "-id")

    if connection.vendor == "postgresql":
        # Migration 0013's index on SEARCH_TEXT: the only one a bitmap scan can use for these words.
        assert "Bitmap Index Scan on lead_search_trgm" in _plan(by_words, "indexscan")
    else:
        assert "SCAN" in _plan(by_words)  # SQLite has no trigram index: a scan, fine at its sizes
    assert "lead_engagement" in _plan(by_score)

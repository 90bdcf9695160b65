"""The lead list's search box: a phone number as people type it, or words of a name, email or city."""

import re

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from crm.models import CompanySettings
from crm.services.imports.rows import normalise_phone

# Digits with a phone's punctuation, at least seven digits: "(512) 555-0147", "+1 512 555 0147".
PHONE_LIKE = re.compile(r"^\+?[\d\s().-]*$")
MIN_PHONE_DIGITS = 7
# What the words are looked for in. On PostgreSQL a trigram index on this very expression
# (migration 0013, lead_search_trgm) finds them without reading the table.
SEARCH_TEXT = ('UPPER("crm_lead"."business_name" || \' \' || "crm_lead"."email" || \' \' || '
               '"crm_lead"."city")')
WORD_FOUND = f"{SEARCH_TEXT} LIKE '%%' || UPPER(%s) || '%%' ESCAPE '\\'"


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def leads_search(*, queryset: QuerySet, term: str) -> QuerySet:
    """Leads of `queryset` matching `term`.

    A term that reads as a phone number (in the company's default region unless it has a
    country code, as an import reads it) matches the lead with that number, by the phone
    index, however it was typed. Any other term matches leads whose business name, email or
    city contains each of its words, ignoring case.
    """
    term = term.strip()
    if not term:
        return queryset
    if PHONE_LIKE.match(term) and sum(ch.isdigit() for ch in term) >= MIN_PHONE_DIGITS:
        phone, _ = normalise_phone(term, CompanySettings.load().default_region or "US")
        if phone:
            return queryset.filter(phone=phone)
    for word in term.split():
        queryset = queryset.filter(RawSQL(WORD_FOUND, [_like_escaped(word)], output_field=BooleanField()))
    return queryset

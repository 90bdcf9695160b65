"""The one gate every send goes through, and its reasons."""

from datetime import datetime, timezone as dt_timezone

import pytest
from django.utils import timezone

from crm.models import Lead
from crm.services.messaging.gate import can_send
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
NOON_CHICAGO = datetime(2026, 7, 15, 17, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def lead():
    return LeadFactory(time_zone="America/Chicago", consent_source="web form", consent_at=timezone.now())


def test_a_consenting_lead_at_noon_can_be_texted(lead):
    assert can_send(lead, NOON_CHICAGO, automated=True, sequence=True)


@pytest.mark.parametrize("change, reason", [
    ({"opted_out_at": NOON_CHICAGO}, "opted out"),
    ({"number_flagged_at": NOON_CHICAGO}, "cannot receive texts"),
    ({"consent_source": "", "consent_at": None}, "no recorded consent"),
    ({"needs_human_at": NOON_CHICAGO}, "a person must review"),
    ({"status": Lead.Status.REPLIED}, "replied"),
    ({"status": Lead.Status.PAID}, "paid"),
    ({"status": Lead.Status.LOST}, "lost"),
    ({"priority": Lead.Priority.HOT}, "hot"),
])
def test_sequence_sends_are_refused_with_the_reason(lead, change, reason):
    for field, value in change.items():
        setattr(lead, field, value)
    decision = can_send(lead, NOON_CHICAGO, automated=True, sequence=True)
    assert not decision and reason in decision.reason


def test_a_person_may_reply_to_a_lead_who_replied_or_is_hot_but_never_to_an_opt_out(lead):
    lead.status, lead.priority = Lead.Status.REPLIED, Lead.Priority.HOT
    lead.consent_source, lead.consent_at = "", None
    assert can_send(lead, NOON_CHICAGO, automated=False)
    lead.opted_out_at = NOON_CHICAGO  # Rock #6400: no texting an opt-out from an old thread
    assert "opted out" in can_send(lead, NOON_CHICAGO, automated=False).reason


def test_quiet_hours_apply_to_people_too_with_the_next_opening(lead):
    night = datetime(2026, 7, 16, 4, 0, tzinfo=dt_timezone.utc)  # 23:00 in Chicago
    decision = can_send(lead, night, automated=False)
    assert not decision and "quiet hours" in decision.reason and "America/Chicago" in decision.reason
    assert decision.retry_at == datetime(2026, 7, 16, 14, 0, tzinfo=dt_timezone.utc)  # 09:00 CDT


def test_an_area_code_never_widens_the_window(lead):
    lead.time_zone, lead.phone, lead.state = "", "+12125550143", ""  # a New York area code
    at = datetime(2026, 7, 15, 14, 0, tzinfo=dt_timezone.utc)  # 10:00 in New York, 04:00 in Honolulu
    decision = can_send(lead, at, automated=False)
    assert not decision and decision.code == "quiet_hours" and "every US zone" in decision.reason


def test_decisions_carry_a_code_as_well_as_words(lead):
    lead.opted_out_at = NOON_CHICAGO
    assert can_send(lead, NOON_CHICAGO, automated=True).code == "opted_out"
    lead.opted_out_at, lead.priority = None, Lead.Priority.HOT
    assert can_send(lead, NOON_CHICAGO, automated=True, sequence=True).code == "hot"

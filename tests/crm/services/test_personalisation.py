"""First lines: AI when configured and the answer passes, else the template; switchable; sources kept."""

import pytest

from crm.integrations.errors import ProviderUnavailable
from crm.models import CompanySettings, Enrollment, Lead, TimelineEvent
from crm.services.personalisation import lead_personalise, lead_set_first_line, leads_personalise
from tests.factories import LeadFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db


class FakeChat:
    model = "test-model"

    def __init__(self, answer):
        self.answer = answer
        self.prompts = []

    def complete(self, *, system, user, **kwargs):
        self.prompts.append((system, user))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def lead():
    return LeadFactory(business_name="Joe's Plumbing", city="Austin", state="TX", category="plumber",
                       enrichment_data={"source": "serpapi", "facts": {"rating": 4.8, "review_count": 112}})


def test_a_passing_ai_line_is_kept_with_its_model_and_facts(lead):
    chat = FakeChat("Joe's Plumbing has 112 reviews in Austin, and your website should show them off.")
    source = lead_personalise(lead=lead, company=CompanySettings.load(), chat=chat)
    lead.refresh_from_db()
    assert source == "llm:test-model" == lead.first_line_source
    assert lead.first_line.startswith("Joe's Plumbing has 112 reviews")
    assert lead.first_line_facts["facts"]["review_count"] == 112
    assert "112" in chat.prompts[0][1] and "friendly" in chat.prompts[0][0]
    assert TimelineEvent.objects.get(lead=lead, kind="personalised").data["source"] == "llm:test-model"


@pytest.mark.parametrize("answer, reason", [
    ("Visit www.joes.com today to see it.", "contains a link"),
    ("Joe's Plumbing has served Austin for 30 years.", "numbers not in the facts: 30"),
    ("asdf", "too short"),
    (ProviderUnavailable("llm: HTTP 500 after 4 attempts"), "AI call failed"),
])
def test_rejected_or_failed_ai_falls_back_to_the_template(lead, answer, reason):
    lead_personalise(lead=lead, company=CompanySettings.load(), chat=FakeChat(answer))
    lead.refresh_from_db()
    assert lead.first_line_source == "template"
    assert "Joe's Plumbing" in lead.first_line
    assert reason in lead.first_line_facts["fallback_reason"]


def test_switched_off_or_no_key_uses_templates(lead):
    company = CompanySettings.load()
    company.personalisation_enabled = False
    company.save()
    summary = leads_personalise(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert summary.template == 1 and lead.first_line_source == "template"
    assert lead.first_line_facts["fallback_reason"] == "personalisation is switched off"


def test_manual_lines_and_done_lines_are_kept_unless_forced(lead):
    lead_set_first_line(lead=lead, text="  Typed by Sam.  ", actor=None)
    lead.save()
    assert leads_personalise(lead_ids=[lead.pk]).skipped == 1
    lead.refresh_from_db()
    assert (lead.first_line, lead.first_line_source) == ("Typed by Sam.", "manual")
    leads_personalise(lead_ids=[lead.pk], force=True)
    lead.refresh_from_db()
    assert lead.first_line_source == "template"


def test_auto_enrol_after_personalisation_when_a_sequence_is_named(lead):
    step = SequenceStepFactory(delay_days=0)
    hot = LeadFactory(priority=Lead.Priority.HOT)
    company = CompanySettings.load()
    company.auto_enroll_sequence = step.sequence
    company.save()
    summary = leads_personalise(lead_ids=[lead.pk, hot.pk])
    assert summary.enrolled == 1
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.next_step == step and enrollment.status == "active"
    assert not Enrollment.objects.filter(lead=hot).exists()  # a person takes over hot leads
    assert TimelineEvent.objects.filter(lead=lead, kind="enrolled").count() == 1
    leads_personalise(lead_ids=[lead.pk], force=True)
    assert Enrollment.objects.filter(lead=lead).count() == 1  # never enrolled twice

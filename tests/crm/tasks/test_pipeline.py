"""The whole pipeline with no keys: import -> enrich (offline) -> first line (template) -> enrol,
through django-q2 (sync in tests), one task per chunk."""

import pytest

from crm.models import CompanySettings, Enrollment, Lead, TimelineEvent
from crm.services.imports.batches import import_batch_confirm, import_batch_create
from tests.factories import SequenceStepFactory

pytestmark = pytest.mark.django_db

CSV = b"""Business Name,Phone,City,State,Zip,Category
Allston Dental,(617) 555-0101,Boston,MA,02134,dentist
Austin Pipes,(512) 555-0102,Austin,TX,,plumber
Nowhere Shop,(212) 555-0103,,,,
"""


def test_import_runs_the_offline_pipeline_to_enrolment(admin_user, django_capture_on_commit_callbacks):
    step = SequenceStepFactory(delay_days=0)
    company = CompanySettings.load()
    company.auto_enroll_sequence = step.sequence
    company.save()
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_batch_create(data=CSV, filename="leads.csv", actor=admin_user, consent_source="web form")
        import_batch_confirm(batch_id=batch.pk, actor=admin_user)
    leads = {lead.business_name: lead for lead in Lead.objects.all()}
    boston, austin, nowhere = leads["Allston Dental"], leads["Austin Pipes"], leads["Nowhere Shop"]
    assert boston.enrichment_status == "done" and boston.enrichment_data["source"] == "offline"
    assert (boston.time_zone, austin.time_zone) == ("America/New_York", "America/Chicago")
    assert boston.latitude is not None
    assert nowhere.enrichment_status == "not_found"
    assert nowhere.time_zone == "America/New_York" and nowhere.time_zone_source == "area_code"
    for lead in leads.values():
        assert lead.first_line and lead.first_line_source == "template"
        kinds = list(TimelineEvent.objects.filter(lead=lead).order_by("pk").values_list("kind", flat=True))
        assert kinds == ["imported", "enriched", "personalised", "enrolled"]
    assert Enrollment.objects.filter(sequence=step.sequence).count() == 3

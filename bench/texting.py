"""Shared by the texting benchmarks: a database of due enrolments, loaded with one INSERT ...
SELECT, whose leads live where it is mid-afternoon now, so a run works at any hour."""

from datetime import datetime
from zoneinfo import ZoneInfo

# Zones tried for the leads: the one nearest 14:00 local now (never more than 90 minutes off).
ZONES = ["Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
         "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Berlin",
         "Europe/Athens", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai",
         "Asia/Tokyo", "Australia/Sydney", "Pacific/Noumea", "Pacific/Auckland"]

# Columns the loader fills; every other NOT NULL column gets its model default (benchdb.insert_select).
# Executed with parameters: '%%' is SQL's modulo.
LEAD_COLUMNS = {
    "business_name": "'Business ' || i", "contact_first_name": "'Sam'",
    "phone": "'+1' || (ARRAY['212','415','312','617','305','206','303','512'])[1 + i %% 8] || (2000000 + i / 8)::text",
    "city": "'Austin'", "state": "'TX'", "postcode": "'78701'", "country": "'US'", "category": "'plumber'",
    "time_zone": "%(zone)s", "time_zone_source": "'manual'", "enrichment_status": "'done'",
    "first_line": "'We built you a site.'", "first_line_status": "'done'", "first_line_source": "'template'",
    "consent_source": "'bench'", "consent_at": "now()", "preview_token": "md5('t' || i) || md5('u' || i)",
}
ENROL_SQL = """
INSERT INTO crm_enrollment (lead_id, sequence_id, next_step_id, next_run_at, status, stop_reason, restart, created_at)
SELECT id, %(sequence)s, %(step)s, now() - interval '1 minute', 'active', '', false, now() FROM crm_lead
"""


def afternoon_zone(now: datetime) -> str:
    return min(ZONES, key=lambda zone: abs(now.astimezone(ZoneInfo(zone)).hour + now.minute / 60 - 14))


def load_due_enrolments(count: int, numbers: list[str]) -> str:
    """`count` consenting leads, each enrolled in a two-step sequence with step 1 due now; returns their zone."""
    from django.db import connection
    from django.utils import timezone

    from benchdb import insert_select

    from crm.models import CompanySettings, Lead, MessageTemplate, Sequence, SequenceStep

    company = CompanySettings.load()
    company.sender_numbers, company.auto_enroll_sequence = "\n".join(numbers), None
    company.save()
    template = MessageTemplate.objects.create(name="Day 0", body="Hi {contact_first_name}, {first_line} {preview_url}")
    sequence = Sequence.objects.create(name="Bench")
    first = SequenceStep.objects.create(sequence=sequence, order=1, delay_days=0, template=template)
    SequenceStep.objects.create(sequence=sequence, order=2, delay_days=2, template=template)
    zone = afternoon_zone(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(insert_select(Lead, LEAD_COLUMNS, "FROM generate_series(1, %(count)s) AS i"),
                       {"zone": zone, "count": int(count)})
        cursor.execute(ENROL_SQL, {"sequence": sequence.pk, "step": first.pk})
        cursor.execute("VACUUM ANALYZE crm_lead")
        cursor.execute("VACUUM ANALYZE crm_enrollment")
    return zone

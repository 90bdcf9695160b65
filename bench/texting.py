"""Shared by the texting benchmarks: a database of due enrolments, loaded with one INSERT ...
SELECT, whose leads live where it is mid-afternoon now, so a run works at any hour."""

from datetime import datetime
from zoneinfo import ZoneInfo

# Zones tried for the leads: the one nearest 14:00 local now (never more than 90 minutes off).
ZONES = ["Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
         "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Berlin",
         "Europe/Athens", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai",
         "Asia/Tokyo", "Australia/Sydney", "Pacific/Noumea", "Pacific/Auckland"]

LOAD_SQL = """
INSERT INTO crm_lead (
    business_name, contact_first_name, contact_last_name, phone, email, website, address, city,
    state, postcode, country, category, status, priority, time_zone, time_zone_source,
    enrichment_data, enrichment_status, enrichment_error, enrichment_attempts, first_line,
    first_line_status, first_line_source, first_line_facts, engagement_score, consent_source, consent_at,
    preview_views, preview_clicks, preview_seconds, inbound_messages,
    preview_token, notes, created_at, updated_at
)
SELECT 'Business ' || i, 'Sam', '', '+1' || (ARRAY['212','415','312','617','305','206','303','512'])[1 + i %% 8]
       || (2000000 + i / 8)::text, '', '', '', 'Austin', 'TX', '78701', 'US', 'plumber', 'NEW', 'NORMAL',
       %(zone)s, 'manual', '{}'::jsonb, 'done', '', 0, 'We built you a site.', 'done', 'template',
       '{}'::jsonb, 0, 'bench', now(), 0, 0, 0, 0, md5('t' || i) || md5('u' || i), '', now(), now()
FROM generate_series(1, %(count)s) AS i
"""
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

    from crm.models import CompanySettings, MessageTemplate, Sequence, SequenceStep

    company = CompanySettings.load()
    company.sender_numbers, company.auto_enroll_sequence = "\n".join(numbers), None
    company.save()
    template = MessageTemplate.objects.create(name="Day 0", body="Hi {contact_first_name}, {first_line} {preview_url}")
    sequence = Sequence.objects.create(name="Bench")
    first = SequenceStep.objects.create(sequence=sequence, order=1, delay_days=0, template=template)
    SequenceStep.objects.create(sequence=sequence, order=2, delay_days=2, template=template)
    zone = afternoon_zone(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"zone": zone, "count": int(count)})
        cursor.execute(ENROL_SQL, {"sequence": sequence.pk, "step": first.pk})
        cursor.execute("VACUUM ANALYZE crm_lead")
        cursor.execute("VACUUM ANALYZE crm_enrollment")
    return zone

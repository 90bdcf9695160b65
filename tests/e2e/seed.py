"""What an agency sets up before its first import, written through the product's own services:
an admin and a rep (with a phone to be rung and a commission rate), a Day 0 sequence new leads
are enrolled in, the sender number and caller id, AI first lines on, the hot-lead rule.

Run in the release with the stack's environment (settings.production), by the e2e test:

    E2E_PASSWORD=... python -m tests.e2e.seed --sender +15125550100 --rep-phone +15125550111

Prints a JSON object: the users' ids and names.
"""

import argparse
import json


def seed(*, password: str, sender: str, rep_phone: str) -> dict:
    from crm.models import CompanySettings, MessageTemplate, Sequence, SequenceStep
    from crm.models.team import ROLE_ADMIN, ROLE_REP
    from crm.services.team import user_create

    admin = user_create(username="e2e_admin", password=password, role=ROLE_ADMIN, superuser=True,
                        email="admin@example.com")
    rep = user_create(username="e2e_rep", password=password, role=ROLE_REP, phone=rep_phone,
                      commission_rate="0.1500", first_name="Riley")
    template = MessageTemplate.objects.create(
        name="Day 0", body="Hi {contact_first_name}, {first_line} We built you a site: {preview_url}")
    sequence = Sequence.objects.create(name="New leads")
    SequenceStep.objects.create(sequence=sequence, order=1, delay_days=0, template=template)
    company = CompanySettings.load()
    company.name = company.preview_brand_name = "Brightside Studio"
    company.sender_numbers, company.call_caller_id = sender, sender
    company.auto_enroll_sequence, company.auto_assign_leads = sequence, True
    company.personalisation_enabled = True
    company.hot_lead_views, company.hot_lead_window_minutes = 3, 10
    company.setup_fee_cents, company.monthly_plan_cents, company.currency = 49_900, 9_900, "usd"
    company.save()
    return {"admin": {"id": admin.pk, "username": admin.username},
            "rep": {"id": rep.pk, "username": rep.username}}


def main() -> None:
    import os

    import django

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sender", required=True)
    parser.add_argument("--rep-phone", required=True)
    args = parser.parse_args()
    django.setup()
    print(json.dumps(seed(password=os.environ["E2E_PASSWORD"], sender=args.sender, rep_phone=args.rep_phone)))


if __name__ == "__main__":
    main()

"""Check every connection and say, for each failure, what is wrong and how to fix it.

    python manage.py doctor           # exits 1 when any check fails
    python manage.py doctor --json    # the same, as JSON for scripts
"""

import json

from django.core.management.base import BaseCommand

from crm.selectors.health import FAIL, OFF, OK, health_report

LABELS = {OK: "ok  ", FAIL: "FAIL", OFF: "off "}


class Command(BaseCommand):
    help = "Check the database, broker, worker, schedules, Twilio, Stripe, SerpAPI, the LLM API, PUBLIC_BASE_URL and disk."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
        parser.add_argument("--cached", action="store_true",
                            help="Reuse provider answers from the last few minutes instead of asking again.")

    def handle(self, *args, **options):
        checks = health_report(fresh=not options["cached"])
        failed = [check for check in checks if check.status == FAIL]
        if options["json"]:
            self.stdout.write(json.dumps({"ok": not failed, "checks": [check.as_dict() for check in checks]}, indent=2))
        else:
            for check in checks:
                style = {OK: self.style.SUCCESS, FAIL: self.style.ERROR, OFF: self.style.WARNING}[check.status]
                self.stdout.write(f"{style(LABELS[check.status])} {check.title}: {check.detail}")
                if check.status != OK and check.fix:
                    self.stdout.write(f"     Fix: {check.fix}")
            self.stdout.write(f"\n{len(failed)} of {len(checks)} checks failed." if failed else "\nEvery check passed.")
        if failed:
            raise SystemExit(1)

"""A recording SMS backend and helpers for the texting tests. Every test that sends runs on a
fixed clock (`at(...)`), so none depends on the hour it runs at."""

import itertools
from datetime import datetime, timezone as dt_timezone

import time_machine
from django.utils import timezone

from crm.integrations.sms import SmsResult, SmsSendError
from crm.models import CompanySettings, Enrollment, Message
from tests.factories import LeadFactory, MessageTemplateFactory, SequenceFactory, SequenceStepFactory

NOON_CHICAGO = datetime(2026, 7, 15, 17, 0, tzinfo=dt_timezone.utc)
_sids = itertools.count(1)


def at(moment: datetime = NOON_CHICAGO, tick: bool = False):
    """The wall clock at `moment` (frozen unless `tick`), for timezone.now() everywhere."""
    return time_machine.travel(moment, tick=tick)


def queued(lead, body="Hello", **extra):
    """A text queued for `lead` whose slot has come."""
    defaults = {"direction": "out", "body": body, "to_number": lead.phone, "status": "queued",
                "send_at": timezone.now()}
    return Message.objects.create(lead=lead, **{**defaults, **extra})


class WorkerKilled(BaseException):
    """Stands in for a worker process dying mid-send (not an Exception: nothing catches it)."""


class RecordingBackend:
    name = "outbox"

    def __init__(self, fail_with: SmsSendError | None = None, crash: bool = False):
        self.sent: list[dict] = []
        self.fail_with = fail_with
        self.crash = crash

    def send(self, *, to, from_, body, status_callback="", messaging_service_sid=""):
        if self.crash:
            raise WorkerKilled("the worker was killed mid-send")
        if self.fail_with:
            raise self.fail_with
        sid = f"SM{next(_sids):032d}"
        self.sent.append({"to": to, "from": from_, "body": body, "sid": sid, "at": timezone.now()})
        self.on_send(sid)
        return SmsResult(sid=sid, status="queued")

    def on_send(self, sid: str) -> None:
        """Hook: runs inside the provider call, after the provider took the text."""

    def find_sent(self, *, to, from_, body, since):
        for sent in self.sent:
            if sent["to"] == to and sent["body"] == body:
                return SmsResult(sid=sent["sid"], status="delivered")
        return None


def texting_lead(**extra):
    defaults = {"time_zone": "America/Chicago", "consent_source": "web form", "consent_at": timezone.now(),
                "first_line": "We built you a site."}
    return LeadFactory(**{**defaults, **extra})


def sequence_with_steps(*delays):
    sequence = SequenceFactory()
    steps = [SequenceStepFactory(sequence=sequence, order=i + 1, delay_days=d,
                                 template=MessageTemplateFactory(body=f"Step {i + 1} for {{business_name}}: {{preview_url}}"))
             for i, d in enumerate(delays)]
    return sequence, steps


def enroll(lead, sequence, steps, due):
    return Enrollment.objects.create(lead=lead, sequence=sequence, next_step=steps[0], next_run_at=due)


def company_numbers(*numbers):
    company = CompanySettings.load()
    company.sender_numbers = "\n".join(numbers)
    company.save()
    return company

"""`manage.py doctor`: one line per check with the fix under each failure, --json, and a
non-zero exit on any failure."""

import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from crm.services.schedules import schedules_sync
from fakes.doctor_fakes import fake_key_checked_api, fake_twilio_account
from tests.crm.selectors.test_health import SID, _task

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(settings):
    cache.clear()
    settings.REDIS_URL = ""
    settings.TWILIO_ACCOUNT_SID = settings.STRIPE_SECRET_KEY = settings.SERPAPI_API_KEY = settings.LLM_API_KEY = ""
    settings.HEALTH_MIN_FREE_DISK_MB = 1
    schedules_sync()
    _task(timezone.now())
    with fake_key_checked_api() as public:
        settings.PUBLIC_BASE_URL = public.base_url
        yield settings


def test_all_good_exits_zero_and_says_so(healthy, capsys):
    call_command("doctor")
    out = capsys.readouterr().out
    assert "Every check passed." in out and "off  Twilio (SMS)" in out and "FAIL" not in out


def test_a_failure_exits_one_with_what_and_the_fix(healthy, capsys):
    healthy.TWILIO_ACCOUNT_SID, healthy.TWILIO_AUTH_TOKEN = SID, "wrong"
    with fake_twilio_account(SID, "right", numbers={}) as twilio:
        healthy.TWILIO_API_BASE_URL = twilio.base_url
        with pytest.raises(SystemExit) as exit_:
            call_command("doctor")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "FAIL Twilio (SMS): Twilio refused the credentials" in out
    assert "     Fix: Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in out
    assert "1 of 10 checks failed." in out


def test_json(healthy, capsys):
    Schedule.objects.filter(name="sms-send").delete()
    with pytest.raises(SystemExit):
        call_command("doctor", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    by_key = {check["key"]: check for check in report["checks"]}
    assert by_key["schedules"]["status"] == "fail" and "sync_schedules" in by_key["schedules"]["fix"]
    assert by_key["database"]["status"] == "ok" and len(by_key) == 10

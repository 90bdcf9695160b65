"""Each health check, working and failing, with the words it fixes it by. Twilio and Stripe are
fake accounts (fakes/doctor_fakes.py) reached by the real SDKs."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_q.models import Schedule, Task

from crm.models import CompanySettings
from crm.selectors import health
from crm.services.billing.stripe_events import HANDLERS
from crm.services.schedules import schedules_sync
from fakes.doctor_fakes import fake_key_checked_api, fake_stripe_account, fake_twilio_account
from fakes.http_server import FakeServer

pytestmark = pytest.mark.django_db
PUBLIC = "https://crm.example.com"
SID, TOKEN = "AC" + "1" * 32, "right-token"
SMS_URL = f"{PUBLIC}/webhooks/twilio/sms/"
STRIPE_URL = f"{PUBLIC}/webhooks/stripe/"
ALL_EVENTS = sorted(HANDLERS)


@pytest.fixture(autouse=True)
def _public(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    cache.clear()


def _task(stopped):
    Task.objects.create(id=f"t{stopped.timestamp()}", name="t", func="math.floor", started=stopped,
                        stopped=stopped, success=True)


def test_database_ok_and_unapplied_migrations_say_migrate(monkeypatch):
    assert health.check_database().status == health.OK
    fake_plan = [(SimpleNamespace(app_label="crm", name="0099_future"), False)]
    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda self, targets: fake_plan)
    check = health.check_database()
    assert check.status == health.FAIL and "crm.0099_future" in check.detail
    assert check.fix == "Run `python manage.py migrate`."


def test_broker_redis_answering_and_not(settings):
    settings.REDIS_URL = ""
    assert health.check_broker().status == health.OK
    settings.REDIS_URL = "redis://127.0.0.1:6379/8"
    assert health.check_broker().status == health.OK
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    check = health.check_broker()
    assert check.status == health.FAIL and "PING" in check.detail and "REDIS_URL" in check.fix


def test_worker_heartbeat_is_a_task_finished_in_the_last_two_minutes():
    never = health.check_worker()
    assert never.status == health.FAIL and "ever finished" in never.detail and "qcluster" in never.fix
    _task(timezone.now() - timedelta(minutes=5))
    stale = health.check_worker()
    assert stale.status == health.FAIL and "5 minutes" in stale.detail and "qcluster" in stale.fix
    _task(timezone.now() - timedelta(seconds=30))
    assert health.check_worker().status == health.OK


def test_schedules_missing_say_sync_schedules():
    Schedule.objects.all().delete()
    check = health.check_schedules()
    assert check.status == health.FAIL and "sms-dispatch" in check.detail
    assert "sync_schedules" in check.fix
    schedules_sync()
    assert health.check_schedules().status == health.OK


@pytest.fixture
def twilio_settings(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
    company = CompanySettings.load()
    company.sender_numbers = "+15125550100\n+15125550101"
    company.save()
    return settings


def test_twilio_off_without_credentials(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    assert health.check_twilio().status == health.OFF


def test_twilio_wrong_credentials(twilio_settings):
    with fake_twilio_account(SID, "another-token", numbers={}) as twilio:
        twilio_settings.TWILIO_API_BASE_URL = twilio.base_url
        check = health.check_twilio(fresh=True)
    assert check.status == health.FAIL and "refused the credentials" in check.detail and "401" in check.detail
    assert "TWILIO_AUTH_TOKEN" in check.fix


def test_twilio_a_sender_number_with_the_wrong_webhook_or_not_ours(twilio_settings):
    numbers = {"+15125550100": "https://old-host.example.com/sms", "+15125550199": SMS_URL}
    with fake_twilio_account(SID, TOKEN, numbers=numbers) as twilio:
        twilio_settings.TWILIO_API_BASE_URL = twilio.base_url
        check = health.check_twilio(fresh=True)
    assert check.status == health.FAIL
    assert "+15125550100 sends incoming texts to https://old-host.example.com/sms" in check.detail
    assert "+15125550101 is not a number of this Twilio account" in check.detail
    assert f"“A message comes in” to Webhook, HTTP POST, {SMS_URL}" in check.fix


def test_twilio_ok_and_cached(twilio_settings):
    numbers = {"+15125550100": SMS_URL, "+15125550101": SMS_URL}
    with fake_twilio_account(SID, TOKEN, numbers=numbers) as twilio:
        twilio_settings.TWILIO_API_BASE_URL = twilio.base_url
        assert health.check_twilio(fresh=True).status == health.OK
        assert health.check_twilio().status == health.OK
        assert len(twilio.requests) == 1  # the second answer came from the cache


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_right", "whsec_abc"
    return settings


def _stripe(stripe_settings, endpoints, key="sk_test_right"):
    with fake_stripe_account(key, endpoints) as stripe_fake:
        stripe_settings.STRIPE_API_BASE_URL = stripe_fake.base_url
        return health.check_stripe(fresh=True)


def test_stripe_off_without_a_key(settings):
    settings.STRIPE_SECRET_KEY = ""
    assert health.check_stripe().status == health.OFF


def test_stripe_wrong_key(stripe_settings):
    check = _stripe(stripe_settings, [], key="sk_test_other")
    assert check.status == health.FAIL and "refused the secret key" in check.detail
    assert "STRIPE_SECRET_KEY" in check.fix and "API keys" in check.fix


def test_stripe_endpoint_missing_disabled_or_short_of_events(stripe_settings):
    elsewhere = _stripe(stripe_settings, [{"url": "https://old.example.com/stripe", "status": "enabled",
                                           "enabled_events": ["*"]}])
    assert elsewhere.status == health.FAIL and f"No webhook endpoint points at {STRIPE_URL}" in elsewhere.detail
    assert "https://old.example.com/stripe" in elsewhere.detail
    assert f"add an endpoint with URL {STRIPE_URL}" in elsewhere.fix and "STRIPE_WEBHOOK_SECRET" in elsewhere.fix
    disabled = _stripe(stripe_settings, [{"url": STRIPE_URL, "status": "disabled", "enabled_events": ["*"]}])
    assert disabled.status == health.FAIL and "disabled" in disabled.detail and "Enable it" in disabled.fix
    short = _stripe(stripe_settings, [{"url": STRIPE_URL, "status": "enabled", "enabled_events": ALL_EVENTS[1:]}])
    assert short.status == health.FAIL and ALL_EVENTS[0] in short.detail


def test_stripe_webhook_secret_missing(stripe_settings):
    stripe_settings.STRIPE_WEBHOOK_SECRET = ""
    check = _stripe(stripe_settings, [{"url": STRIPE_URL, "status": "enabled", "enabled_events": ALL_EVENTS}])
    assert check.status == health.FAIL and "STRIPE_WEBHOOK_SECRET is not set" in check.detail
    assert "signing secret" in check.fix
    stripe_settings.STRIPE_WEBHOOK_SECRET = "whsec_abc"
    assert _stripe(stripe_settings, [{"url": STRIPE_URL, "status": "enabled",
                                      "enabled_events": ALL_EVENTS}]).status == health.OK


def test_serpapi_and_llm_keys(settings):
    settings.SERPAPI_API_KEY = settings.LLM_API_KEY = ""
    assert health.check_serpapi().status == health.OFF and health.check_llm().status == health.OFF
    with fake_key_checked_api(serpapi_key="serp-right", llm_key="llm-right") as fake:
        settings.SERPAPI_BASE_URL, settings.LLM_BASE_URL = fake.base_url, f"{fake.base_url}/v1"
        settings.SERPAPI_API_KEY, settings.LLM_API_KEY = "serp-right", "llm-right"
        assert health.check_serpapi(fresh=True).status == health.OK
        assert health.check_llm(fresh=True).status == health.OK
        settings.SERPAPI_API_KEY, settings.LLM_API_KEY = "serp-wrong", "llm-wrong"
        serp, llm = health.check_serpapi(fresh=True), health.check_llm(fresh=True)
    assert serp.status == health.FAIL and "401" in serp.detail and "serp-wrong" not in serp.detail
    assert "SERPAPI_API_KEY" in serp.fix
    assert llm.status == health.FAIL and "401" in llm.detail and "LLM_API_KEY" in llm.fix


def test_public_base_url_reachable_or_not(settings):
    with fake_key_checked_api() as fake:
        settings.PUBLIC_BASE_URL = fake.base_url
        assert health.check_public_url(fresh=True).status == health.OK
    with FakeServer() as nothing_there:  # answers 404 to /health/live
        settings.PUBLIC_BASE_URL = nothing_there.base_url
        check = health.check_public_url(fresh=True)
    assert check.status == health.FAIL and "404" in check.detail and "PUBLIC_BASE_URL" in check.fix


def test_disk_free_space(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "not-yet" / "media"
    settings.HEALTH_MIN_FREE_DISK_MB = 1
    assert health.check_disk().status == health.OK
    settings.HEALTH_MIN_FREE_DISK_MB = 10**12
    check = health.check_disk()
    assert check.status == health.FAIL and "MEDIA_ROOT" in check.fix


def test_a_database_error_in_one_check_is_a_failure_not_a_crash(monkeypatch):
    def broken(fresh=False):
        raise health.DatabaseError("no such table: django_q_task")

    monkeypatch.setattr(health, "CHECKS", (broken, health.check_disk))
    checks = health.health_report(fresh=True)
    assert checks[0].status == health.FAIL and "no such table" in checks[0].detail and "migrate" in checks[0].fix
    assert checks[1].key == "disk"

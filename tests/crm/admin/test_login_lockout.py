"""Sign-in lockout (django-axes): twenty wrong passwords used to leave the right one working.

A username is locked for one address after the failure limit, for the cool-off; the login page
says so and for how long; admins see and clear lockouts, reps cannot; behind the production proxy
the client's address is the one the proxy put in X-Forwarded-For, elsewhere the socket's.
Every test runs on a fixed clock.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.admin.models import DELETION, LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.crm.admin import admin_url
from tests.factories import TEST_PASSWORD
from tests.test_settings import PRODUCTION_ENV, clean_env, run_python

ATTACKER = "81.2.69.160"
NEIGHBOUR = "81.2.69.161"
PROXY = "10.0.0.2"
LIMIT = 5
COOL_OFF = timedelta(minutes=15)
FIXED_NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
LOCKED_TEXT = "Sign-in is locked"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(FIXED_NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def lockout_policy(settings):
    """The defaults of settings/env.py, whatever the environment running the suite sets."""
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = COOL_OFF


def _log_in(client: Client, username: str, password: str, ip: str = ATTACKER, **headers):
    return client.post(reverse("admin:login"), {"username": username, "password": password},
                       REMOTE_ADDR=ip, **headers)


def _fail(client: Client, username: str, times: int, ip: str = ATTACKER, **headers) -> list[int]:
    return [_log_in(client, username, "wrong-password", ip, **headers).status_code for _ in range(times)]


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _assert_locked_page(response, username: str, wait: str = "15 minutes"):
    assert response.status_code == 429
    text = response.content.decode()
    assert LOCKED_TEXT in text
    assert f"for “{username}”" in text
    assert f"Try again in {wait}" in text
    # The login page itself, ready for the retry, not a bare error.
    assert 'id="login-form"' in text
    assert response.context_data["form"].initial["username"] == username


def test_twenty_wrong_passwords_then_the_right_one_is_refused_with_the_lockout_message(admin_user):
    client = Client()

    statuses = _fail(client, "admin", 20)
    response = _log_in(client, "admin", TEST_PASSWORD)

    # The wrong passwords before the limit get the usual form error; the limit-th locks.
    assert statuses[:LIMIT - 1] == [200] * (LIMIT - 1)
    assert statuses[LIMIT - 1:] == [429] * (20 - LIMIT + 1)
    _assert_locked_page(response, "admin")
    assert not _signed_in(client)
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))


def test_under_the_limit_the_right_password_works_and_forgets_the_failures(admin_user, settings):
    client = Client()
    _fail(client, "admin", LIMIT - 1)

    response = _log_in(client, "admin", TEST_PASSWORD)

    # Unfold's login form drops ?next=: the landing page is LOGIN_REDIRECT_URL.
    assert response.status_code == 302
    assert response["Location"] == settings.LOGIN_REDIRECT_URL
    assert _signed_in(client)
    assert not AccessAttempt.objects.filter(username="admin").exists()


def test_the_lockout_is_per_username_and_address(admin_user, rep_user):
    _fail(Client(), "admin", LIMIT)

    from_elsewhere = Client()
    assert _log_in(from_elsewhere, "admin", TEST_PASSWORD, ip=NEIGHBOUR).status_code == 302
    assert _signed_in(from_elsewhere)

    another_user = Client()
    assert _log_in(another_user, rep_user.username, TEST_PASSWORD).status_code == 302
    assert _signed_in(another_user)

    _assert_locked_page(_log_in(Client(), "admin", TEST_PASSWORD), "admin")


def test_a_new_browser_or_a_forged_forwarded_header_does_not_dodge_the_lockout(admin_user):
    # Outside production the client's address is the socket's: X-Forwarded-For is not believed.
    for n in range(LIMIT):
        _log_in(Client(), "admin", "wrong-password", HTTP_USER_AGENT=f"browser {n}",
                HTTP_X_FORWARDED_FOR=f"198.18.0.{n}")

    response = _log_in(Client(), "admin", TEST_PASSWORD, HTTP_USER_AGENT="a fresh browser",
                       HTTP_X_FORWARDED_FOR="198.18.0.99")

    _assert_locked_page(response, "admin")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_sign_in_works_again_after_the_cool_off(admin_user, clock):
    _fail(Client(), "admin", LIMIT)

    clock.shift(COOL_OFF - timedelta(seconds=1))
    client = Client()
    _assert_locked_page(_log_in(client, "admin", TEST_PASSWORD), "admin")

    # That attempt, made while locked, started the cool-off again.
    clock.shift(COOL_OFF - timedelta(seconds=1))
    _assert_locked_page(_log_in(client, "admin", TEST_PASSWORD), "admin")
    clock.shift(COOL_OFF + timedelta(seconds=1))
    response = _log_in(client, "admin", TEST_PASSWORD)

    assert response.status_code == 302
    assert _signed_in(client)


def test_the_failure_limit_and_cool_off_come_from_settings(admin_user, settings, clock):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(hours=1)

    assert _fail(Client(), "admin", 2) == [200, 429]
    _assert_locked_page(_log_in(Client(), "admin", TEST_PASSWORD), "admin", wait="1 hour")

    clock.shift(timedelta(hours=1, seconds=1))
    assert _log_in(Client(), "admin", TEST_PASSWORD).status_code == 302


def test_the_lockout_page_keeps_next_for_the_retry(admin_user):
    client = Client()
    _fail(client, "admin", LIMIT)

    response = client.post(f"{reverse('admin:login')}?next=/admin/crm/lead/",
                           {"username": "admin", "password": TEST_PASSWORD}, REMOTE_ADDR=ATTACKER)

    _assert_locked_page(response, "admin")
    assert response.context_data["app_path"] == "/admin/login/?next=/admin/crm/lead/"


def test_the_admin_lockouts_page_lists_the_lockout_and_an_admin_clears_it(admin_client, admin_user, rep_user):
    _fail(Client(), "admin", LIMIT)
    _fail(Client(), rep_user.username, 1, ip=NEIGHBOUR)  # one wrong password: not locked
    changelist = admin_url(AccessAttempt, "changelist")

    everything = admin_client.get(changelist)
    locked = admin_client.get(changelist, {"locked": "now"})

    assert everything.status_code == 200
    assert {(row.username, row.ip_address) for row in everything.context["cl"].result_list} == {
        ("admin", ATTACKER), (rep_user.username, NEIGHBOUR)}
    assert locked.status_code == 200
    [row] = locked.context["cl"].result_list
    assert (row.username, row.ip_address, row.failures_since_start) == ("admin", ATTACKER, LIMIT)
    model_admin = locked.context["cl"].model_admin
    assert model_admin.show_locked_until(row) == FIXED_NOW + COOL_OFF
    assert ATTACKER in locked.content.decode()
    failures = admin_client.get(admin_url(AccessFailureLog, "changelist"))
    assert failures.status_code == 200
    assert [row.locked_out for row in failures.context["cl"].result_list].count(True) == 1

    response = admin_client.post(changelist, {"action": "unlock", "_selected_action": [row.pk]})

    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="admin").exists()
    assert AccessAttempt.objects.filter(username=rep_user.username).exists()
    entry = LogEntry.objects.get(content_type__app_label="axes", object_id=str(row.pk))
    assert (entry.user_id, entry.action_flag) == (admin_user.pk, DELETION)
    client = Client()
    assert _log_in(client, "admin", TEST_PASSWORD).status_code == 302
    assert _signed_in(client)


def test_unlock_clears_the_pair_from_every_browser(admin_client, admin_user):
    for n in range(LIMIT):
        _log_in(Client(), "admin", "wrong-password", HTTP_USER_AGENT=f"browser {n}")
    one_row = AccessAttempt.objects.filter(username="admin").first()

    admin_client.post(admin_url(AccessAttempt, "changelist"), {"action": "unlock", "_selected_action": [one_row.pk]})

    assert not AccessAttempt.objects.exists()
    assert _log_in(Client(), "admin", TEST_PASSWORD).status_code == 302


def test_the_lockouts_page_costs_the_same_queries_for_one_row_or_many(admin_client):
    def lockout(n: int) -> AccessAttempt:
        return AccessAttempt.objects.create(
            username=f"user{n}", ip_address=f"81.2.69.{n}", user_agent="browser", http_accept="text/html",
            path_info="/admin/login/", get_data="", post_data="", failures_since_start=LIMIT)

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(admin_url(AccessAttempt, "changelist"), {"locked": "now"})
        assert response.status_code == 200
        return len(queries)

    lockout(0)
    one = queries_for_page()
    for n in range(1, 40):
        lockout(n)
    many = queries_for_page()

    assert one == many <= 6


def test_a_rep_cannot_see_or_clear_lockouts(rep_client, admin_user):
    _fail(Client(), "admin", LIMIT)
    row = AccessAttempt.objects.get()

    for model in (AccessAttempt, AccessFailureLog):
        assert rep_client.get(admin_url(model, "changelist")).status_code == 403
    assert rep_client.get(admin_url(AccessAttempt, "change", row.pk)).status_code == 403
    unlock = {"action": "unlock", "_selected_action": [row.pk]}
    assert rep_client.post(admin_url(AccessAttempt, "changelist"), unlock).status_code == 403
    assert rep_client.post(admin_url(AccessAttempt, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert AccessAttempt.objects.filter(pk=row.pk).exists()
    assert reverse("admin:axes_accessattempt_changelist") not in rep_client.get(reverse("admin:index")).content.decode()


def test_an_admin_finds_the_lockouts_page_in_the_sidebar(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:axes_accessattempt_changelist") in index
    assert reverse("admin:axes_accessfailurelog_changelist") in index


# --- The client's address behind the production proxy ---------------------------------------

AXES_IP_PROBE = (
    "import json\n"
    "from django.conf import settings\n"
    "names = ['AXES_IPWARE_META_PRECEDENCE_ORDER', 'AXES_IPWARE_PROXY_COUNT', 'IPWARE_STRICT',\n"
    "         'AXES_FAILURE_LIMIT', 'AXES_COOLOFF_TIME']\n"
    "print(json.dumps({name: getattr(settings, name, None) for name in names}, default=str))\n"
)


def _axes_settings(settings_module: str, **variables: str) -> dict:
    result = run_python(AXES_IP_PROBE, clean_env(settings_module, **variables))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production_ip_settings() -> dict:
    loaded = _axes_settings("settings.production", **PRODUCTION_ENV)
    return {name: loaded[name] for name in
            ("AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT")}


def test_only_production_reads_the_address_from_x_forwarded_for(production_ip_settings):
    assert production_ip_settings["AXES_IPWARE_META_PRECEDENCE_ORDER"][0] == "HTTP_X_FORWARDED_FOR"
    for module in ("settings.local", "settings.test"):
        assert _axes_settings(module)["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ["REMOTE_ADDR"]
    # With no proxy in front, production believes no header either.
    direct = _axes_settings("settings.production", **PRODUCTION_ENV, TRUSTED_PROXY_COUNT="0")
    assert direct["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ["REMOTE_ADDR"]


def test_the_limit_and_cool_off_come_from_the_environment():
    defaults = _axes_settings("settings.local")
    assert (defaults["AXES_FAILURE_LIMIT"], defaults["AXES_COOLOFF_TIME"]) == (5, "0:15:00")
    custom = _axes_settings("settings.local", AXES_FAILURE_LIMIT="3", AXES_COOLOFF_MINUTES="90")
    assert (custom["AXES_FAILURE_LIMIT"], custom["AXES_COOLOFF_TIME"]) == (3, "1:30:00")


def _behind_proxy(settings, production_ip_settings: dict) -> None:
    for name, value in production_ip_settings.items():
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)


def test_behind_the_production_proxy_the_forwarded_address_is_locked(admin_user, settings, production_ip_settings):
    _behind_proxy(settings, production_ip_settings)

    # The attacker forges a different X-Forwarded-For each time; the proxy appends the real address.
    for n in range(LIMIT):
        _log_in(Client(), "admin", "wrong-password", ip=PROXY, HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, {ATTACKER}")
    locked = _log_in(Client(), "admin", TEST_PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    neighbour = Client()
    via_same_proxy = _log_in(neighbour, "admin", TEST_PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR=NEIGHBOUR)

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    _assert_locked_page(locked, "admin")
    assert via_same_proxy.status_code == 302
    assert _signed_in(neighbour)


def test_behind_two_proxies_the_address_the_first_one_saw_is_locked(admin_user, settings):
    loaded = _axes_settings("settings.production", **PRODUCTION_ENV, TRUSTED_PROXY_COUNT="2")
    _behind_proxy(settings, {name: loaded[name] for name in
                             ("AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT")})

    for n in range(LIMIT):
        _log_in(Client(), "admin", "wrong-password", ip=PROXY,
                HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, {ATTACKER}, 10.0.0.1")

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    _assert_locked_page(_log_in(Client(), "admin", TEST_PASSWORD, ip=PROXY,
                                HTTP_X_FORWARDED_FOR=f"{ATTACKER}, 10.0.0.1"), "admin")

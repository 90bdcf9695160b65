"""The viewer's time zone: activated for a signed-in user; a request without a session cookie
never looks its user up (the public endpoints pay nothing for it)."""

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from crm.middleware import UserTimezoneMiddleware

pytestmark = pytest.mark.django_db


def _zone_seen(request) -> str:
    seen = []
    UserTimezoneMiddleware(lambda r: seen.append(timezone.get_current_timezone_name()))(request)
    return seen[0]


def test_a_signed_in_users_zone_is_active_for_their_request(rep_user):
    rep_user.time_zone = "America/Denver"
    request = RequestFactory().get("/admin/", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc")
    request.user = rep_user
    assert _zone_seen(request) == "America/Denver"


def test_without_a_session_cookie_the_user_is_not_looked_up():
    def looked_up():
        raise AssertionError("the user was looked up")

    request = RequestFactory().post("/p/some-token/t/")
    request.user = SimpleLazyObject(looked_up)
    assert _zone_seen(request) == settings.TIME_ZONE


def test_an_unknown_zone_falls_back_to_the_default(rep_user):
    rep_user.time_zone = "Mars/Olympus_Mons"
    request = RequestFactory().get("/admin/", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc")
    request.user = rep_user
    assert _zone_seen(request) == settings.TIME_ZONE

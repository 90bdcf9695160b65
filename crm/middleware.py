"""Show times in the viewer's own time zone; they are stored in UTC."""

import zoneinfo

from django.conf import settings
from django.utils import timezone


class UserTimezoneMiddleware:
    """Activates the signed-in user's zone. A request without a session cookie has no signed-in
    user (sessions are how one signs in), so its user is not looked up at all: the public
    endpoints (tracking, webhooks, the API's bearer tokens) pay nothing here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz_name = ""
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            user = getattr(request, "user", None)
            tz_name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        if tz_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)

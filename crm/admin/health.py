"""System -> Health: every connection's check (crm.selectors.health, as `manage.py doctor`), what
is wrong and how to fix it. The ADMIN role only. Provider answers are reused for a few minutes;
"Check again" asks afresh. Mounted at /admin/health/ (settings/urls.py)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from crm.selectors.health import FAIL, health_report


def can_view_health(request: HttpRequest) -> bool:
    """The Health page and its sidebar item: the ADMIN role (superusers included), never a rep."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.is_admin)


def health_view(request: HttpRequest) -> HttpResponse:
    if not can_view_health(request):
        raise PermissionDenied
    if request.method == "POST":  # "Check again": ask the providers afresh, then show the page
        health_report(fresh=True)
        return HttpResponseRedirect(reverse("crm_health"))
    checks = health_report()
    failed = sum(check.status == FAIL for check in checks)
    context = {**admin.site.each_context(request), "title": "Health", "checks": checks, "failed": failed}
    return TemplateResponse(request, "admin/crm/health.html", context)


urlpatterns = [path("health/", admin.site.admin_view(health_view), name="crm_health")]

"""GET /health/live (the process answers; no I/O) and GET /health/ready (the database and the
broker answer), for load balancers and uptime checks. Public: they say nothing secret."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.selectors.health import OK, readiness


@never_cache
@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(check.status == OK for check in checks)
    return JsonResponse({"status": "ok" if ready else "fail",
                         "checks": {check.key: {"status": check.status, "detail": check.detail} for check in checks}},
                        status=200 if ready else 503)


urlpatterns = [
    path("live", health_live, name="health_live"),
    path("ready", health_ready, name="health_ready"),
]

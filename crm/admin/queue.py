""""My queue": the rep's home page, an Unfold custom page (first item of the sidebar; the
dashboard links to it). Admins see it for any rep (?rep=<user id>), and without a rep, every
rep's numbers in a table with links to their queues.

URLs (mounted under /admin/ by settings/urls.py):
- /admin/queue/               name `crm_my_queue`: the page;
- /admin/queue/rows/          name `crm_my_queue_rows`: the live part (counts and rows) as an HTML
                              fragment, which crm/static/crm/queue.js fetches every 1.5 s and swaps in;
- /admin/queue/numbers/       name `crm_my_queue_numbers`: the rep's numbers for the month, an HTML
                              fragment the page fetches once after it shows the queue;
- /admin/queue/availability/  name `crm_my_queue_availability`: POST available=1|0, the rep's
                              "I'm away" / "I'm available" switch.

Markup for tests and the browser walk: each row is
`<a class="queue-row" data-lead-id="<id>" data-bucket="hot|reply|callback|follow_up"
href="<the lead's change page>">` holding `<span data-reason>` (why it is in the queue) and, on hot
rows, `<span data-timer data-since="<ISO alert time>">` (the speed-to-lead clock). Counts are
`<span data-count="hot">` etc. The rows come from crm.selectors.queue, the numbers from
crm.selectors.rep_numbers, availability from crm.services.assignment.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.models import RepProfile, User
from crm.models.base import format_cents
from crm.models.team import ROLE_REP
from crm.selectors.queue import BUCKET_KEYS, Bucket, rep_queue
from crm.selectors.rep_numbers import month_bounds, reps_numbers
from crm.services.assignment import rep_set_availability

POLL_MS = 1500  # how often the page refreshes its rows: a new hot lead shows within 2 s


def can_view_queue(request: HttpRequest) -> bool:
    """The queue page and its sidebar item: a rep (their own queue) or an admin (anyone's)."""
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_rep or user.is_admin)
                and user.has_perm("crm.view_lead"))


def _reps():
    return User.objects.filter(groups__name=ROLE_REP, is_active=True).order_by("username")


def _viewed_rep(request: HttpRequest) -> User | None:
    """Whose queue: a rep's own, always (any ?rep= is ignored); an admin's pick, or None for all."""
    if request.user.is_rep:
        return request.user
    rep_id = request.GET.get("rep", "")
    if not rep_id.isdigit():
        return None
    return _reps().filter(pk=int(rep_id)).first()


def _speed_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _target_shown(t) -> dict:
    goal = format_cents(t.goal) if t.money else f"{t.goal:,}"
    actual = "-" if t.actual is None else (format_cents(t.actual) if t.money else f"{t.actual:,}")
    return {"label": t.label, "goal": goal, "actual": actual, "percent": t.percent, "progress": f"{actual} of {goal}"}


def _numbers_shown(n) -> dict:
    return {
        "calls": n.calls, "connects": n.connects, "texts": n.texts, "replies": n.replies, "deals": n.deals,
        "revenue": format_cents(n.revenue_cents), "speed": _speed_text(n.median_speed_seconds),
        "hot_leads": n.hot_leads, "unreached": n.unreached,
        "targets": [_target_shown(t) for t in n.targets],
    }


def _live_context(rep: User) -> dict:
    now = timezone.now()
    queue = rep_queue(rep_id=rep.pk, now=now)
    return {"queue": queue, "buckets": [(key, Bucket(bucket).label, queue.counts[key])
                                        for bucket, key in BUCKET_KEYS.items()],
            "rows_url": reverse("crm_my_queue_rows") + f"?rep={rep.pk}", "now": now}


def queue_view(request: HttpRequest) -> HttpResponse:
    if not can_view_queue(request):
        raise PermissionDenied
    rep = _viewed_rep(request)
    start, end = month_bounds(timezone.localtime())
    context = {**admin.site.each_context(request), "poll_ms": POLL_MS, "month": start,
               "is_rep": request.user.is_rep}
    if request.user.is_admin:
        context["reps"] = list(_reps())
    if rep is None:
        title = "Reps"
        numbers = reps_numbers(rep_ids=[r.pk for r in context["reps"]], start=start, end=end)
        context["rep_rows"] = [{"rep": r, **_numbers_shown(numbers[r.pk])} for r in context["reps"]]
    else:
        title = "My queue" if rep.pk == request.user.pk else f"Queue of {rep.get_full_name() or rep.username}"
        context.update(_live_context(rep))
        context["viewed_rep"] = rep
        context["numbers_url"] = reverse("crm_my_queue_numbers") + f"?rep={rep.pk}"
        profile = RepProfile.objects.filter(user=rep).only("is_available").first()
        context["available"] = profile.is_available if profile else False
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/crm/queue.html", {**context, "title": title})


def queue_rows_view(request: HttpRequest) -> HttpResponse:
    """The counts and rows alone, for the page's refresh."""
    if not can_view_queue(request):
        raise PermissionDenied
    rep = _viewed_rep(request)
    if rep is None:
        return HttpResponse(status=404)
    return TemplateResponse(request, "admin/crm/queue_rows.html", _live_context(rep))  # never cached: admin_view


def queue_numbers_view(request: HttpRequest) -> HttpResponse:
    """The rep's numbers for the month, fetched once by the page after the queue is on screen
    (they need not refresh every 1.5 s with it)."""
    if not can_view_queue(request):
        raise PermissionDenied
    rep = _viewed_rep(request)
    if rep is None:
        return HttpResponse(status=404)
    start, end = month_bounds(timezone.localtime())
    numbers = _numbers_shown(reps_numbers(rep_ids=[rep.pk], start=start, end=end)[rep.pk])
    return TemplateResponse(request, "admin/crm/queue_numbers.html", {"numbers": numbers, "month": start})


@require_POST
def queue_availability_view(request: HttpRequest) -> HttpResponse:
    """A rep marks themselves away or available (admins set it on the rep's profile)."""
    if not (can_view_queue(request) and request.user.is_rep):
        raise PermissionDenied
    available = request.POST.get("available") == "1"
    rep_set_availability(rep=request.user, available=available)
    messages.success(request, "You are available: new leads come to you again." if available
                     else "You are away: round-robin gives you no new leads until you come back.")
    return HttpResponseRedirect(reverse("crm_my_queue"))


urlpatterns = [
    path("queue/", admin.site.admin_view(queue_view), name="crm_my_queue"),
    path("queue/rows/", admin.site.admin_view(queue_rows_view), name="crm_my_queue_rows"),
    path("queue/numbers/", admin.site.admin_view(queue_numbers_view), name="crm_my_queue_numbers"),
    path("queue/availability/", admin.site.admin_view(queue_availability_view), name="crm_my_queue_availability"),
]

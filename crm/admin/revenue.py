"""The Revenue page (the ADMIN role only) and the "My earnings" page (a rep's own commissions):
custom pages in the admin's layout, with Unfold's chart components. The numbers come from
crm.selectors.revenue, client_health and earnings; the one write (proposing an upsell) from
crm.services.billing.upsells. Mounted at /admin/revenue/ and /admin/earnings/ (settings/urls.py)."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.models import Upsell
from crm.models.base import format_cents
from crm.selectors.client_health import (
    FAILED_PAYMENT_DAYS,
    NO_CONTACT_DAYS,
    RISK_RULES,
    UPSELL_MAX_RISK,
    UPSELL_MIN_TENURE_DAYS,
    client_risks,
    riskiest_clients,
    upsell_candidates,
)
from crm.selectors.earnings import rep_earnings_by_month, rep_earnings_totals
from crm.selectors.revenue import (
    CHURN_LOOKBACK_MONTHS,
    CONVERSION_LOOKBACK_MONTHS,
    OPEN_PIPELINE_STATUSES,
    PROJECTION_MONTHS,
    active_client_count,
    mrr_movements_by_month,
    projection,
    projection_inputs,
    revenue_by_month,
)
from crm.services.billing.upsells import UpsellRefused, upsell_propose

COLORS = {"setup": "#8b5cf6", "subscription": "var(--color-primary-600)", "upsell": "#10b981",
          "refund": "#ef4444", "new": "var(--color-primary-600)", "expansion": "#10b981",
          "reactivation": "#06b6d4", "contraction": "#f59e0b", "churn": "#ef4444", "mrr": "var(--color-primary-600)",
          "accrued": "#10b981", "clawed_back": "#ef4444"}
STACKED = {"animation": False, "responsive": True, "maintainAspectRatio": False,
           "plugins": {"legend": {"display": True, "align": "end"}},
           "scales": {"x": {"stacked": True}, "y": {"stacked": True}}}
LINE = {"animation": False, "responsive": True, "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "align": "end"}}}


def can_view_revenue(request: HttpRequest) -> bool:
    """The Revenue page and its sidebar item: the ADMIN role (superusers included), never a rep."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.is_admin)


def can_view_earnings(request: HttpRequest) -> bool:
    """The "My earnings" page and its sidebar item: a rep (their own commission lines)."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.is_rep and user.has_perm("crm.view_commission"))


def _dollars(cents: int) -> float:
    return round(cents / 100, 2)


def _chart(labels: list[str], series: list[tuple[str, str, list[int]]]) -> str:
    """Chart.js data for Unfold's chart components: one dataset per (key, label, cents...)."""
    return json.dumps({"labels": labels, "datasets": [
        {"label": label, "data": [_dollars(c) for c in values], "backgroundColor": COLORS[key],
         "borderColor": COLORS[key], "displayYAxis": True} for key, label, values in series]})


def _page(request: HttpRequest, template: str, title: str, context: dict) -> TemplateResponse:
    request.current_app = admin.site.name
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def revenue_context(now) -> dict:
    revenue = revenue_by_month(now=now)
    movements = mrr_movements_by_month(now=now)
    inputs = projection_inputs(now=now)
    projected = projection(inputs, now=now)
    mrr = inputs.mrr_cents
    risks = client_risks(now=now)
    labels = [f"{m.month:%b %Y}" for m in revenue]
    return {
        "kpis": [
            {"title": "MRR", "value": format_cents(mrr)},
            {"title": "ARR (MRR x 12)", "value": format_cents(mrr * 12)},
            {"title": "Revenue this month (net of refunds)", "value": format_cents(revenue[-1].net_cents)},
            {"title": "Active clients", "value": f"{active_client_count():,}"},
        ],
        "revenue_rows": [{"month": m.month, "setup": format_cents(m.setup_cents),
                          "subscription": format_cents(m.subscription_cents), "upsell": format_cents(m.upsell_cents),
                          "refund": format_cents(m.refund_cents), "net": format_cents(m.net_cents)} for m in revenue],
        "revenue_chart": _chart(labels, [(kind, kind.title() if kind != "refund" else "Refunds",
                                          [getattr(m, f"{kind}_cents") for m in revenue])
                                         for kind in ("setup", "subscription", "upsell", "refund")]),
        "movement_rows": [{"month": m.month, **{k: format_cents(getattr(m, f"{k}_cents")) for k in (
            "new", "expansion", "contraction", "churn", "reactivation", "net", "mrr_end")}} for m in movements],
        "movement_chart": _chart(labels, [(kind, kind.title(), [getattr(m, f"{kind}_cents") for m in movements])
                                          for kind in ("new", "expansion", "reactivation", "contraction", "churn")]),
        "mrr_chart": _chart(labels, [("mrr", "MRR at month end", [m.mrr_end_cents for m in movements])]),
        "inputs": inputs,
        "inputs_shown": {
            "mrr": format_cents(inputs.mrr_cents), "pipeline_value": format_cents(inputs.pipeline_value_cents),
            "setup_fee": format_cents(inputs.setup_fee_cents), "monthly_plan": format_cents(inputs.monthly_plan_cents),
            "conversion": f"{inputs.conversion_rate:.1%}", "churn": f"{inputs.churn_rate:.1%}",
            "wins": f"{inputs.wins_per_month:.2f}",
            "open_statuses": ", ".join(str(status.label) for status in OPEN_PIPELINE_STATUSES),
        },
        "projection_rows": [{"month": p.month, "new_clients": f"{p.new_clients:.2f}",
                             "churned": format_cents(-p.churned_cents), "mrr": format_cents(p.mrr_cents),
                             "revenue": format_cents(p.revenue_cents)} for p in projected],
        "projection_chart": _chart(
            [f"{m.month:%b %Y}" for m in movements[-6:]] + [f"{p.month:%b %Y}" for p in projected],
            [("mrr", "MRR (actual, then projected)", [m.mrr_end_cents for m in movements[-6:]]
              + [p.mrr_cents for p in projected])]),
        "risky": riskiest_clients(risks=risks),
        "risk_rules": RISK_RULES,
        "candidates": upsell_candidates(now=now, risks=risks),
        "stacked_options": json.dumps(STACKED),
        "line_options": json.dumps(LINE),
        "constants": {"projection_months": PROJECTION_MONTHS, "conversion_months": CONVERSION_LOOKBACK_MONTHS,
                      "churn_months": CHURN_LOOKBACK_MONTHS, "no_contact_days": NO_CONTACT_DAYS,
                      "failed_payment_days": FAILED_PAYMENT_DAYS, "upsell_tenure_days": UPSELL_MIN_TENURE_DAYS,
                      "upsell_max_risk": UPSELL_MAX_RISK},
    }


def revenue_view(request: HttpRequest) -> HttpResponse:
    if not can_view_revenue(request):
        raise PermissionDenied
    context = revenue_context(timezone.now())
    context["can_propose_upsell"] = request.user.has_perm("crm.add_upsell")
    return _page(request, "admin/crm/revenue.html", "Revenue", context)


@require_POST
def revenue_upsell_view(request: HttpRequest, client_id: int) -> HttpResponse:
    """The candidate's "Propose upsell" button: the service decides, the page says what happened."""
    if not (can_view_revenue(request) and request.user.has_perm("crm.add_upsell")):
        raise PermissionDenied
    try:
        upsell = upsell_propose(client_id=client_id, proposed_by=request.user, now=timezone.now())
    except UpsellRefused as refused:
        messages.error(request, f"No upsell proposed: {refused}")
    else:
        admin.site.get_model_admin(Upsell).log_addition(request, upsell, [{"added": {}}])
        messages.success(request, f"Upsell proposed to {upsell.client.name}: {upsell.product}, "
                                  f"{format_cents(upsell.amount_cents, upsell.currency)} more a month.")
    return HttpResponseRedirect(reverse("crm_revenue") + "#upsells")


def earnings_view(request: HttpRequest) -> HttpResponse:
    """A rep's own commissions by month; nobody else's lines are ever read."""
    if not can_view_earnings(request):
        raise PermissionDenied
    now = timezone.now()
    months = rep_earnings_by_month(rep=request.user, now=now)
    totals = rep_earnings_totals(rep=request.user)
    chronological = list(reversed(months))

    def shown(row) -> dict:
        return {"month": row.month, **{k: format_cents(getattr(row, f"{k}_cents")) for k in (
            "accrued", "clawed_back", "net", "pending", "approved", "paid")}}

    chart = _chart([f"{m.month:%b %Y}" for m in chronological], [
        ("accrued", "Accrued", [m.accrued_cents for m in chronological]),
        ("clawed_back", "Clawed back", [m.clawed_back_cents for m in chronological]),
    ])
    return _page(request, "admin/crm/earnings.html", "My earnings", {
        "rows": [shown(m) for m in months], "totals": shown(totals), "earnings_chart": chart,
        "stacked_options": json.dumps(STACKED),
    })


urlpatterns = [
    path("revenue/", admin.site.admin_view(revenue_view), name="crm_revenue"),
    path("revenue/upsell/<int:client_id>/", admin.site.admin_view(revenue_upsell_view), name="crm_revenue_upsell"),
    path("earnings/", admin.site.admin_view(earnings_view), name="crm_earnings"),
]

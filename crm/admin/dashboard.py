"""The Unfold dashboard callback: fills templates/admin/index.html from selectors.

An admin sees the company (or one rep, ?rep=<id>) over a date range (?range=<preset> or
?start=&end=, crm/selectors/reporting.py), each number linked to the admin list of the rows it
counts. A rep sees only their own: targets against this month's actuals, their queue, their
funnel and their earnings. Charts are Unfold's chart components (Chart.js bundled by Unfold);
crm/static/crm/dashboard.js makes each chart segment open the list behind it.
"""

import json

from django.conf import settings
from django.utils import timezone

from crm.models import Lead, Transaction, User
from crm.models.base import format_cents
from crm.selectors.dashboard import (
    Kpi,
    hot_lead_queue,
    kpi,
    rep_performance,
    rep_table_parts,
    reply_rate_kpi,
    unread_notifications,
)
from crm.selectors.earnings import rep_earnings_by_month
from crm.selectors.queue import rep_queue
from crm.selectors.date_ranges import PRESETS, DateRange, date_range_from_params
from crm.selectors.reporting import dashboard_report
from crm.selectors.revenue import mrr_movements_by_month

COLOURS = {"primary": "var(--color-primary-600)", "green": "#16a34a", "red": "#dc2626", "amber": "#d97706",
           "blue": "#2563eb", "grey": "#6b7280", "violet": "#7c3aed"}


def _chart(labels: list[str], datasets: list[dict], links: list[list[str]]) -> dict:
    """Chart.js data for Unfold's chart component, and one admin list URL per segment."""
    return {"data": json.dumps({"labels": labels, "datasets": datasets}), "links": json.dumps(links)}


def _day_label(day) -> str:
    return f"{day:%b} {day.day}"


def _texts_chart(texts) -> dict:
    series = [("sent", "Sent", COLOURS["blue"]), ("delivered", "Delivered", COLOURS["green"]),
              ("failed", "Failed", COLOURS["red"]), ("replies", "Replies", COLOURS["violet"])]
    return _chart([_day_label(d["day"]) for d in texts.days],
                  [{"label": label, "data": [d[key] for d in texts.days], "backgroundColor": colour,
                    "borderColor": colour} for key, label, colour in series],
                  [[d["urls"][key] for d in texts.days] for key, _, _ in series])


def _views_chart(views: list[dict]) -> dict:
    return _chart([_day_label(d["day"]) for d in views],
                  [{"label": "Preview views", "data": [d["views"] for d in views],
                    "backgroundColor": COLOURS["primary"], "borderColor": COLOURS["primary"]}],
                  [[d["url"] for d in views]])


def _funnel_chart(funnel: list[dict]) -> dict:
    return _chart([stage["label"] for stage in funnel],
                  [{"label": "Leads created in the range", "data": [stage["count"] for stage in funnel],
                    "backgroundColor": COLOURS["primary"]}],
                  [[stage["url"] for stage in funnel]])


def _revenue_chart(money) -> dict:
    kinds = list(money.by_kind)
    labels = [Transaction.Kind(kind).label for kind in kinds]
    return _chart(labels, [{"label": "Revenue (dollars)", "data": [money.by_kind[k] / 100 for k in kinds],
                            "backgroundColor": COLOURS["green"]}],
                  [[money.links[f"kind_{k}"] for k in kinds]])


def _mrr_chart(months) -> dict:
    movement = [("new_cents", "New", COLOURS["green"]), ("expansion_cents", "Expansion", COLOURS["blue"]),
                ("reactivation_cents", "Reactivation", COLOURS["violet"]),
                ("contraction_cents", "Contraction", COLOURS["amber"]), ("churn_cents", "Churn", COLOURS["red"])]
    datasets = [{"type": "line", "label": "MRR (dollars)", "data": [m.mrr_end_cents / 100 for m in months],
                 "borderColor": COLOURS["primary"], "backgroundColor": COLOURS["primary"]}]
    datasets += [{"label": label, "data": [getattr(m, key) / 100 for m in months], "backgroundColor": colour}
                 for key, label, colour in movement]
    return _chart([f"{m.month:%b %Y}" for m in months], datasets, [])


def _range_context(request, period: DateRange) -> dict:
    return {"period": period, "presets": PRESETS.items(), "range_error": period.error,
            "custom_start": period.start.date().isoformat(),
            "custom_end": (period.end - period.end.resolution).date().isoformat() if period.days else ""}


def _rep_param(request) -> int | None:
    try:
        rep_id = int(request.GET.get("rep", ""))
    except ValueError:
        return None
    return rep_id if rep_id > 0 else None


def _goals_month(period: DateRange, now):
    """This month's targets are compared only when the range is this month (a monthly goal
    against a week's numbers would mislead)."""
    return timezone.localtime(now).date().replace(day=1) if period.preset == "this_month" else None


def _lead_and_text_kpis(leads, texts, goals) -> list[Kpi]:
    return [
        kpi("new", "New leads", leads.new, leads.new_previous, href=leads.links["new"], goal=goals.get("leads")),
        kpi("contacted", "Contacted", leads.contacted, leads.contacted_previous, href=leads.links["contacted"],
            goal=goals.get("contacted"), note="leads texted or called in the range"),
        reply_rate_kpi(texts),
        kpi("hot", "Hot now", leads.hot_now, leads.turned_hot_previous, href=leads.links["hot_now"],
            goal=goals.get("hot_leads"), note=f"{leads.turned_hot:,} turned hot in the range"),
    ]


def admin_dashboard(request, period: DateRange, now) -> dict:
    rep_id = _rep_param(request)
    report = dashboard_report(period=period, rep_id=rep_id, goals_month=_goals_month(period, now), views=True,
                              money=True, extra=rep_table_parts if rep_id is None else None)
    leads, texts, money, goals = report.leads, report.texts, report.money, report.goals
    kpis = _lead_and_text_kpis(leads, texts, goals) + [
        kpi("mrr", "MRR vs target", money.mrr_cents, money.mrr_previous_end_cents, href=money.links["mrr"],
            money=True, goal=goals.get("mrr"), note="change: the ledger at the end of the previous period"),
        kpi("revenue", "Revenue", money.revenue_cents, money.revenue_previous_cents, href=money.links["revenue"],
            money=True, goal=goals.get("revenue")),
        kpi("churn", "Churn", money.canceled, money.canceled_previous, href=money.links["churn"],
            note=f"subscriptions canceled; MRR lost {-money.churned_cents / 100:,.2f}"),
        kpi("new_clients", "New clients", money.new_clients, money.new_clients_previous,
            href=money.links["new_clients"], goal=goals.get("new_clients")),
    ]
    reps = list(User.objects.filter(groups__name="REP").order_by("username").values("pk", "username", "first_name",
                                                                                      "last_name", "is_active"))
    views = report.views
    context = {"kpis": kpis, "funnel": leads.funnel, "funnel_chart": _funnel_chart(leads.funnel),
               "texts": texts, "texts_chart": _texts_chart(texts),
               "revenue_rows": [{"label": Transaction.Kind(k).label, "amount": format_cents(v),
                                 "url": money.links[f"kind_{k}"]}
                                for k, v in money.by_kind.items()],
               "revenue_chart": _revenue_chart(money), "reps": reps, "rep_id": rep_id,
               "notifications": unread_notifications(user=request.user),
               "views": views, "views_chart": _views_chart(views), "views_total": sum(d["views"] for d in views)}
    if rep_id is None:
        months = mrr_movements_by_month(now=now)
        context.update(mrr_months=months, mrr_chart=_mrr_chart(months),
                       rep_rows=rep_performance(reps=reps, totals=report.totals))
    return context


def rep_dashboard(request, period: DateRange, now) -> dict:
    """The rep's own: never a company-wide number."""
    user = request.user
    report = dashboard_report(period=period, rep_id=user.pk, link_rep=False, goals_month=_goals_month(period, now),
                              texts_by_day=False)
    queue = rep_queue(rep_id=user.pk, now=now, limit=0)
    earnings = [{"month": row.month, "accrued": format_cents(row.accrued_cents),
                 "clawed_back": format_cents(row.clawed_back_cents), "paid": format_cents(row.paid_cents)}
                for row in rep_earnings_by_month(rep=user, now=now, months=3)]
    return {"kpis": _lead_and_text_kpis(report.leads, report.texts, report.goals), "funnel": report.leads.funnel,
            "funnel_chart": _funnel_chart(report.leads.funnel), "queue_counts": queue.counts,
            "queue_total": queue.total, "earnings": earnings, "hot_leads": hot_lead_queue(user=user),
            "notifications": unread_notifications(user=user)}


def dashboard_callback(request, context: dict) -> dict:
    now = timezone.now()
    period = date_range_from_params(request.GET, now=now)
    context.update(_range_context(request, period), is_rep=request.user.is_rep, lead_status=Lead.Status)
    if request.user.is_rep:
        context.update(rep_dashboard(request, period, now))
    else:
        context.update(admin_dashboard(request, period, now))
    return context


def environment_callback(request) -> list[str] | None:
    if settings.DEBUG:
        return ["Development", "warning"]
    return None

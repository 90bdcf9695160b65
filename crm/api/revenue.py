"""/api/v1/revenue: MRR, ARR and the MRR movements per month, as the admin's Revenue page."""

from dataclasses import asdict

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from crm.api.auth import require_perm
from crm.api.errors import ERRORS
from crm.api.schemas import RevenueOut
from crm.models import CompanySettings
from crm.selectors.revenue import mrr_cents_now, mrr_movements_by_month

router = Router(tags=["revenue"])


@router.get("/revenue", response={200: RevenueOut, **ERRORS}, summary="MRR, ARR and MRR movements by month")
def revenue_get(request: HttpRequest):
    require_perm(request, "crm.view_subscription")  # admins: reps see no company revenue
    mrr = mrr_cents_now()
    movements = [{**asdict(month), "net_cents": month.net_cents}
                 for month in mrr_movements_by_month(now=timezone.now())]
    return {"currency": CompanySettings.load().currency, "mrr_cents": mrr, "arr_cents": mrr * 12,
            "movements": movements}

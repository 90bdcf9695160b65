"""/api/v1/leads: list, read, create (as an import row would be) and change status or rep."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja import Field as SchemaField

from crm.api.auth import require_perm
from crm.api.errors import ERRORS, ApiError, django_validation_fields
from crm.api.idempotency import idempotent
from crm.api.pagination import CURSOR_MAX_LENGTH, DEFAULT_LIMIT, MAX_LIMIT, page_by_created
from crm.api.rendering import json_answer
from crm.api.schemas import LEAD_OUT_FIELDS, LeadIn, LeadOut, LeadPage, LeadPatch
from crm.models import Lead, User
from crm.selectors.access import scope_queryset
from crm.selectors.lead_search import leads_search
from crm.services.leads import lead_create, lead_update

router = Router(tags=["leads"])


class LeadFilters(Schema):
    status: Lead.Status | None = None
    priority: Lead.Priority | None = None
    assigned_rep_id: int | None = SchemaField(None, ge=1, le=2**31 - 1)
    search: str = SchemaField("", max_length=200, description="A phone number, or words of the name, email or city.")
    cursor: str | None = SchemaField(None, max_length=CURSOR_MAX_LENGTH)
    limit: int = SchemaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def visible_leads(request: HttpRequest):
    require_perm(request, "crm.view_lead")
    return scope_queryset(Lead.objects.all(), request.user)


def _lead_or_404(request: HttpRequest, lead_id: int) -> Lead:
    lead = visible_leads(request).filter(pk=lead_id).first()
    if lead is None:
        raise ApiError(404, "not_found", f"No lead #{lead_id} that this token may see.")
    return lead


def _rep_or_error(rep_id: int | None) -> User | None:
    if rep_id is None:
        return None
    rep = User.objects.filter(pk=rep_id, is_active=True).first()
    if rep is None:
        raise ApiError(422, "invalid", "No active user with that id.", {"assigned_rep_id": ["is not an active user"]})
    return rep


def _invalid(exc: ValidationError) -> ApiError:
    """A duplicate phone is a conflict (409) naming the lead that has it; anything else 422."""
    fields = django_validation_fields(exc)
    duplicate = hasattr(exc, "error_dict") and any(
        error.code == "duplicate" for error in exc.error_dict.get("phone", []))
    if duplicate:
        return ApiError(409, "duplicate", fields["phone"][0], fields)
    return ApiError(422, "invalid", "The lead is not valid.", fields)


@router.get("/leads", response={200: LeadPage, **ERRORS}, summary="List leads, newest first (by created_at)")
def leads_list(request: HttpRequest, filters: Query[LeadFilters]):
    queryset = visible_leads(request)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.priority:
        queryset = queryset.filter(priority=filters.priority)
    if filters.assigned_rep_id:
        queryset = queryset.filter(assigned_rep_id=filters.assigned_rep_id)
    queryset = leads_search(queryset=queryset, term=filters.search)
    rows, cursor = page_by_created(queryset.values(*LEAD_OUT_FIELDS), cursor=filters.cursor, limit=filters.limit)
    return json_answer({"items": rows, "next_cursor": cursor})  # rows: LeadOut's columns, as read


@router.get("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="Read one lead")
def lead_get(request: HttpRequest, lead_id: int):
    return _lead_or_404(request, lead_id)


@router.post("/leads", response={201: LeadOut, **ERRORS},
             summary="Create a lead (checked, normalised and de-duplicated as an import row)")
def lead_post(request: HttpRequest, payload: LeadIn):
    require_perm(request, "crm.add_lead")

    def run() -> tuple[int, dict]:
        data = payload.model_dump(exclude_none=True, exclude={"assigned_rep_id"})
        data = {name: value for name, value in data.items() if value != "" or name in ("business_name", "phone")}
        if payload.assigned_rep_id is not None:
            data["assigned_rep"] = _rep_or_error(payload.assigned_rep_id)
        try:
            lead = lead_create(data=data, actor=request.user)
        except ValidationError as exc:
            raise _invalid(exc) from None
        return 201, LeadOut.from_orm(lead).model_dump(mode="json")

    return Status(*idempotent(request, [request.body], run))


@router.patch("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="Change a lead's status, priority or rep")
def lead_patch(request: HttpRequest, lead_id: int, payload: LeadPatch):
    require_perm(request, "crm.change_lead")
    lead = _lead_or_404(request, lead_id)
    sent = payload.model_dump(exclude_unset=True)
    data = {name: sent[name] for name in ("status", "priority") if sent.get(name) is not None}
    if "assigned_rep_id" in sent:
        if request.user.is_rep:  # as in the admin, where the rep field is read-only for reps
            raise ApiError(403, "forbidden", "Only an admin may assign leads.")
        data["assigned_rep"] = _rep_or_error(sent["assigned_rep_id"])
    try:
        return lead_update(lead=lead, data=data, actor=request.user)
    except ValidationError as exc:
        raise _invalid(exc) from None

"""/api/v1/leads/{id}/messages: a lead's thread, and sending through the one send gate."""

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja import Field as SchemaField

from crm.api.auth import require_perm
from crm.api.errors import ERRORS, ApiError
from crm.api.idempotency import idempotent
from crm.api.leads import visible_leads
from crm.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, page_by_id
from crm.api.schemas import MessageIn, MessageOut, MessagePage
from crm.models import Lead, Message
from crm.selectors.access import scope_queryset
from crm.services.messaging.sending import SendRefused, sms_send

router = Router(tags=["messages"])


class PageQuery(Schema):
    cursor: str | None = SchemaField(None, max_length=20)
    limit: int = SchemaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = visible_leads(request).filter(pk=lead_id).first()
    if lead is None:
        raise ApiError(404, "not_found", f"No lead #{lead_id} that this token may see.")
    return lead


@router.get("/leads/{lead_id}/messages", response={200: MessagePage, **ERRORS}, summary="A lead's texts, newest first")
def messages_list(request: HttpRequest, lead_id: int, page: Query[PageQuery]):
    require_perm(request, "crm.view_message")
    lead = _lead(request, lead_id)
    queryset = scope_queryset(Message.objects.filter(lead=lead), request.user)
    rows, cursor = page_by_id(queryset, cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": cursor}


@router.post("/leads/{lead_id}/messages", response={201: MessageOut, **ERRORS},
             summary="Text the lead now; a refusal by the send gate is a 409 whose code says why")
def message_post(request: HttpRequest, lead_id: int, payload: MessageIn):
    require_perm(request, "crm.add_message")
    lead = _lead(request, lead_id)

    def run() -> tuple[int, dict]:
        try:
            message = sms_send(lead=lead, body=payload.body, sent_by=request.user)
        except SendRefused as exc:
            if not exc.code:  # the text itself (empty, too long): the request is at fault
                raise ApiError(422, "invalid_body", f"Not sent: {exc}.", {"body": [str(exc)]}) from None
            raise ApiError(409, exc.code, f"Not sent: {exc}.") from None
        return 201, MessageOut.from_orm(message).model_dump(mode="json")

    return Status(*idempotent(request, [request.body], run))

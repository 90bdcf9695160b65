"""Twilio SMS webhooks: inbound messages and delivery status callbacks.

Each request: verify X-Twilio-Signature against the public URL -> store a WebhookEvent
(once per provider id) -> dispatch to one messaging service, recording success or the error.
A forged request is refused with 403 before anything is stored; a repeat of a processed event
is acknowledged and ignored; a repeat of one whose handler failed is processed again; a failing
service leaves the event stored with its error and retried on schedule, never lost. When the
database is down, a signed event goes to a Redis spool and is answered 200 (Twilio does not retry
these webhooks), then stored and processed by the worker once the database is back.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from crm.integrations.webhook_spool import webhook_spool_push
from crm.models import WebhookEvent
from crm.services.webhook_spool import twilio_event_store, twilio_spool_item
from crm.services.webhooks import webhook_event_process

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
# What Twilio's identifiers look like (SM/MM + 32 hex for messages); anything else is refused.
SID = re.compile(r"[A-Za-z0-9]{2,64}")
STATUS = re.compile(r"[a-z_-]{1,30}")


def _form_problem(request: HttpRequest, *required: str) -> str:
    """Why this (signed) form cannot be a Twilio webhook, or "" when it can be stored."""
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.POST.lists()):
        return "NUL characters are not allowed"
    for name in required:
        value = request.POST.get(name, "")
        if not (SID if name == "MessageSid" else STATUS).fullmatch(value):
            return f"{name} is missing or malformed"
    return ""


@csrf_exempt
@require_POST
def twilio_sms_webhook(request: HttpRequest) -> HttpResponse:
    """An inbound text: stored once per MessageSid, then handed to the inbound service,
    whose reply (if any) goes back as TwiML in the same response."""
    if not twilio_signature_is_valid(request):
        return HttpResponseForbidden("Invalid Twilio signature")
    problem = _form_problem(request, "MessageSid")
    if problem:
        return HttpResponseBadRequest(problem)
    message_sid = request.POST["MessageSid"]
    item = twilio_spool_item(source=WebhookEvent.Source.TWILIO_SMS, event_id=message_sid, object_id=message_sid,
                             event_type="inbound", payload=request.POST.dict())
    try:
        event, _ = twilio_event_store(**item)
        if event.processed_at is not None:
            return twiml_response()  # a duplicate of one already handled
        # New, or Twilio's retry of one whose handler failed: (again) processed now, once.
        _, reply_text = webhook_event_process(event=event)
    except (OperationalError, InterfaceError):
        return _spooled_or_raise(item)
    return twiml_response(reply_text or "")


@csrf_exempt
@require_POST
def twilio_status_webhook(request: HttpRequest) -> HttpResponse:
    """A delivery status callback: stored once per (MessageSid, MessageStatus), then applied."""
    if not twilio_signature_is_valid(request):
        return HttpResponseForbidden("Invalid Twilio signature")
    problem = _form_problem(request, "MessageSid", "MessageStatus")
    if problem:
        return HttpResponseBadRequest(problem)
    message_sid, message_status = request.POST["MessageSid"], request.POST["MessageStatus"]

    item = twilio_spool_item(source=WebhookEvent.Source.TWILIO_STATUS, event_id=f"{message_sid}:{message_status}",
                             object_id=message_sid, event_type=message_status, payload=request.POST.dict())
    try:
        event, _ = twilio_event_store(**item)
        if event.processed_at is None:
            # Applied now; or kept waiting when the sender has not recorded this SID yet.
            webhook_event_process(event=event)
    except (OperationalError, InterfaceError):
        return _spooled_or_raise(item)
    return twiml_response()


def _spooled_or_raise(item: dict) -> HttpResponse:
    """The database failed under a signed event: kept in the spool (200, empty TwiML), or, with no
    spool to keep it in, the error goes on (a 503 from the middleware)."""
    if webhook_spool_push(item=item):
        logger.warning("Database unavailable: Twilio %s %s spooled", item["source"], item["event_id"])
        return twiml_response()
    raise


def twilio_signature_is_valid(request: HttpRequest) -> bool:
    """X-Twilio-Signature checked with the SDK against the URL Twilio called: the public base
    URL (the proxy's scheme and host) plus this request's path and query."""
    auth_token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not auth_token or not signature:
        logger.warning(
            "Twilio webhook refused: %s", "no TWILIO_AUTH_TOKEN" if not auth_token else "no signature"
        )
        return False
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    if RequestValidator(auth_token).validate(url, request.POST, signature):
        return True
    logger.warning("Twilio webhook refused: bad signature for %s", url)
    return False


def twiml_response(reply_text: str = "") -> HttpResponse:
    """TwiML for Twilio: an empty <Response/>, or one <Message> with the (escaped) reply."""
    response = MessagingResponse()
    if reply_text:
        response.message(reply_text)
    return HttpResponse(str(response), content_type="text/xml")

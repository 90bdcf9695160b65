"""Twilio Voice webhooks: the TwiML that bridges a rep's call to the lead, the recording
notice the lead hears, and the call status callbacks.

Every request's X-Twilio-Signature is checked first (403, nothing stored, when forged).
Status callbacks (of the call to the rep, and of the lead's leg: ?leg=lead) are stored once per
(CallSid, CallStatus) as WebhookEvents and applied by crm.services.calls (forward only), with
retries and replay like every other webhook.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import reverse
from django.conf import settings
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import Dial, VoiceResponse

from crm.integrations.voice import LEAD_LEG, LEAD_LEG_CALLBACK_EVENTS, LEG_KEY
from crm.models import WebhookEvent
from crm.services.calls import CALL_ID_KEY, RECORDING_NOTICE, call_bridge_plan
from crm.services.webhooks import webhook_event_process
from crm.webhooks.twilio import twilio_signature_is_valid

CALL_SID = re.compile(r"CA[A-Za-z0-9]{32}")
CALL_STATUS = re.compile(r"[a-z-]{1,20}")


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_voice_twiml(request: HttpRequest, call_id: int) -> HttpResponse:
    """Twilio asks what to do once the rep answered: dial the lead with the company's caller
    id (recording from the answer, after the lead heard the notice, when the company records)."""
    if not twilio_signature_is_valid(request):
        return HttpResponseForbidden("Invalid Twilio signature")
    plan = call_bridge_plan(call_id=call_id)
    response = VoiceResponse()
    if not plan.dial:
        response.say(plan.refusal)
        response.hangup()
        return _twiml(response)
    dial = Dial(caller_id=plan.caller_id or None, record="record-from-answer-dual" if plan.record else None)
    # The <Number url> TwiML plays to the lead alone, after they answer and before the bridge.
    notice_url = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("twilio_voice_notice") if plan.record else None
    # The lead's leg reports when the lead answered and how long they talked: the call's duration
    # (the rep's leg's own also counts the lead's ringing).
    lead_leg_url = (settings.PUBLIC_BASE_URL.rstrip("/") + reverse("twilio_voice_status", args=[call_id])
                    + "?" + urlencode({"leg": LEAD_LEG}))
    dial.number(plan.lead_phone, url=notice_url, method="POST" if notice_url else None,
                status_callback=lead_leg_url, status_callback_event=" ".join(LEAD_LEG_CALLBACK_EVENTS),
                status_callback_method="POST")
    response.append(dial)
    return _twiml(response)


@csrf_exempt
@require_POST
def twilio_voice_notice(request: HttpRequest) -> HttpResponse:
    """What the lead hears before the bridge when calls are recorded."""
    if not twilio_signature_is_valid(request):
        return HttpResponseForbidden("Invalid Twilio signature")
    response = VoiceResponse()
    response.say(RECORDING_NOTICE)
    return _twiml(response)


@csrf_exempt
@require_POST
def twilio_voice_status(request: HttpRequest, call_id: int) -> HttpResponse:
    """A call status callback, of the call placed to the rep or (?leg=lead) of the lead's leg
    the TwiML dialled: stored once per (CallSid, CallStatus), then applied."""
    if not twilio_signature_is_valid(request):
        return HttpResponseForbidden("Invalid Twilio signature")
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.POST.lists()):
        return HttpResponseBadRequest("NUL characters are not allowed")
    call_sid, call_status = request.POST.get("CallSid", ""), request.POST.get("CallStatus", "")
    if not CALL_SID.fullmatch(call_sid) or not CALL_STATUS.fullmatch(call_status):
        return HttpResponseBadRequest("CallSid or CallStatus is missing or malformed")
    leg = {LEG_KEY: LEAD_LEG} if request.GET.get("leg") == LEAD_LEG else {}
    event, _ = WebhookEvent.objects.get_or_create(
        source=WebhookEvent.Source.TWILIO_VOICE, event_id=f"{call_sid}:{call_status}",  # each leg has its SID
        defaults={"event_type": call_status, "object_id": call_sid,
                  "payload": {**request.POST.dict(), CALL_ID_KEY: str(call_id), **leg}},
    )
    if event.processed_at is None:
        webhook_event_process(event=event)
    return _twiml(VoiceResponse())

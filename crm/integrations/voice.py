"""Voice calls: Twilio's Calls API through the twilio SDK, or an offline simulation.

Thin clients: no ORM, an explicit timeout, and no automatic retry of a call (a POST that
timed out may still have rung the rep's phone). `get_voice_backend()` picks Twilio when its
credentials are set, else the offline backend, whose calls never leave the machine: it only
says which status callbacks Twilio would have posted (ringing -> in-progress -> completed,
with a duration), and the caller applies them as if they had arrived.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

# The call statuses Twilio posts to a status callback, one request each.
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
# The lead's leg (the <Number> the TwiML dials): when the lead answered, and the talk time.
LEAD_LEG_CALLBACK_EVENTS = ["answered", "completed"]
# Where a stored status callback says which leg it is about ("lead": the <Number>'s callbacks;
# absent: the call placed to the rep).
LEG_KEY = "crm_leg"
LEAD_LEG = "lead"
# A simulated call: the lead's phone rings this long, then they talk this long.
SIMULATED_RING_SECONDS = 12
SIMULATED_DURATION_SECONDS = 95


@dataclass
class CallResult:
    sid: str  # provider call id ("CA" + 32 hex, for Twilio and the simulation alike)
    status: str  # Twilio's call status: queued, initiated, ringing, ...


class VoiceCallError(Exception):
    """A call that could not be placed. Its message never contains credentials."""

    def __init__(self, message: str, *, code: str = "", http_status: int = 0):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class OfflineVoiceBackend:
    """The default with no credentials: nothing rings; the call's progress is simulated."""

    name = "offline"
    simulated = True

    def create(self, *, to: str, from_: str, twiml_url: str, status_callback: str) -> CallResult:
        return CallResult(sid="CA" + uuid.uuid4().hex, status="queued")

    def simulated_callbacks(self, *, sid: str) -> list[dict[str, str]]:
        """The status callbacks Twilio would post for a call the rep and the lead answer: the
        rep's leg rings and is answered, the lead's leg (a child call) rings, is answered and
        ends, then the rep's leg ends, its duration counting the lead's ringing too."""
        lead_sid = "CA" + uuid.uuid5(uuid.NAMESPACE_URL, sid).hex
        lead_leg = {"CallSid": lead_sid, "ParentCallSid": sid, LEG_KEY: LEAD_LEG}
        return [
            {"CallSid": sid, "CallStatus": "ringing"},
            {"CallSid": sid, "CallStatus": "in-progress"},
            {**lead_leg, "CallStatus": "in-progress"},
            {**lead_leg, "CallStatus": "completed", "CallDuration": str(SIMULATED_DURATION_SECONDS)},
            {"CallSid": sid, "CallStatus": "completed",
             "CallDuration": str(SIMULATED_RING_SECONDS + SIMULATED_DURATION_SECONDS)},
        ]


class TwilioVoiceBackend:
    """Twilio's Calls API through the twilio SDK, with an explicit timeout."""

    name = "twilio"
    simulated = False

    def __init__(self, *, account_sid: str, auth_token: str, api_base_url: str = "", timeout: float = 10.0):
        http_client = TwilioHttpClient(timeout=timeout, pool_connections=True)
        self.client = Client(account_sid, auth_token, http_client=http_client)
        if api_base_url:
            # A local fake instead of https://api.twilio.com (as crm.integrations.sms does).
            self.client.api.base_url = api_base_url.rstrip("/")
            self.client.edge = None
            self.client.region = None

    def create(self, *, to: str, from_: str, twiml_url: str, status_callback: str) -> CallResult:
        """Ring `to` (the rep's phone) from `from_`; when it answers Twilio fetches `twiml_url`."""
        try:
            call = self.client.calls.create(
                to=to, from_=from_, url=twiml_url, method="POST", status_callback=status_callback,
                status_callback_method="POST", status_callback_event=STATUS_CALLBACK_EVENTS,
            )
        except (TwilioException, requests.RequestException) as exc:
            raise _call_error(exc) from exc
        return CallResult(sid=call.sid, status=call.status or "queued")


def _call_error(exc: Exception) -> VoiceCallError:
    if isinstance(exc, TwilioRestException):
        status = int(exc.status or 0)
        code = "" if exc.code in (None, status) else str(exc.code)
        return VoiceCallError(f"Twilio call failed: HTTP {status} error {code or '-'}: {exc.msg}",
                              code=code, http_status=status)
    return VoiceCallError(f"Twilio call failed: {type(exc).__name__}")


@lru_cache(maxsize=4)
def _twilio_backend(account_sid: str, auth_token: str, api_base_url: str, timeout: float) -> TwilioVoiceBackend:
    return TwilioVoiceBackend(account_sid=account_sid, auth_token=auth_token, api_base_url=api_base_url,
                              timeout=timeout)


def get_voice_backend() -> OfflineVoiceBackend | TwilioVoiceBackend:
    """Twilio when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set, else the offline simulation."""
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN:
        return _twilio_backend(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                               settings.TWILIO_API_BASE_URL, float(settings.PROVIDER_TIMEOUT_SECONDS))
    return OfflineVoiceBackend()

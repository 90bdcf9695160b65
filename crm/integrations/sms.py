"""SMS providers: Twilio's REST API through the twilio SDK, or a local outbox.

Thin clients: no ORM, an explicit timeout, and no automatic retry of a send (a POST that
timed out may still have reached Twilio; the caller reconciles with `find_sent` instead of
sending again). `get_sms_backend()` picks Twilio when its credentials are set, else the outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

# Twilio error codes after which sending to this recipient again cannot succeed: never retry.
# Only recipient-side codes belong here, because callers flag the lead's number on them;
# account or configuration errors (bad From, auth, A2P registration) are not the lead's fault.
PERMANENT_ERROR_CODES = frozenset(
    {
        "21211",  # invalid 'To' phone number
        "21214",  # 'To' phone number cannot be reached
        "21408",  # permission to send to this destination region is not enabled
        "21610",  # recipient replied STOP: unsubscribed (the lead is opted out)
        "21612",  # 'To' number not reachable via SMS (or not from this 'From')
        "21614",  # 'To' number is not a mobile number
        "30003",  # unreachable destination handset
        "30004",  # message blocked (by the recipient or their carrier)
        "30005",  # unknown destination handset (number no longer exists)
        "30006",  # landline or unreachable carrier
        "30007",  # filtered by the carrier as spam or a violation
        # 30008 ("unknown error") is left out on purpose: it is transient as often as not,
        # and flagging a lead's number on it would block them for good.
    }
)
OPT_OUT_ERROR_CODE = "21610"

# Our statuses: queued < sending < sent < delivered / undelivered / failed.
STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")
_TWILIO_STATUS = {
    "accepted": "queued",  # a Messaging Service took it, not yet queued on a number
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",  # WhatsApp/RCS read receipts: delivered at least
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",  # only scheduled messages can be canceled; it never went out
}
# Twilio stamps date_created with its own clock; allow for skew against ours.
FIND_SENT_CLOCK_SKEW = timedelta(minutes=2)
FIND_SENT_LIMIT = 20


@dataclass
class SmsResult:
    sid: str  # provider message id (Twilio "SM..."; outbox "OB" + 32 hex)
    status: str  # one of STATUSES
    error_code: str = ""


class SmsSendError(Exception):
    """A send or lookup that failed. Its message never contains credentials."""

    def __init__(self, message: str, *, code: str = "", permanent: bool = False, http_status: int = 0):
        super().__init__(message)
        self.code = code  # Twilio error code, e.g. "21610"; "" if none
        self.permanent = permanent  # True: never retry this recipient (PERMANENT_ERROR_CODES)
        self.http_status = http_status  # 0: no answer at all (timeout, refused, unreadable)

    @property
    def outcome_unknown(self) -> bool:
        """No answer, or a server error: Twilio may have taken the message all the same."""
        return self.http_status == 0 or self.http_status >= 500

    @property
    def rate_limited(self) -> bool:
        """429: Twilio refused it for now; it did not take the message."""
        return self.http_status == 429


def sms_error_is_permanent(code: str) -> bool:
    """Whether a Twilio error code (from a send or a status callback) rules out any retry."""
    return str(code or "") in PERMANENT_ERROR_CODES


def sms_status_normalise(twilio_status: str) -> str:
    """Twilio's message status mapped onto ours (unknown ones are treated as still queued)."""
    return _TWILIO_STATUS.get((twilio_status or "").lower(), "queued")


class OutboxSmsBackend:
    """The default with no credentials: nothing leaves the machine; delivery is simulated."""

    name = "outbox"

    def send(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str = "",
        messaging_service_sid: str = "",
    ) -> SmsResult:
        return SmsResult(sid="OB" + uuid.uuid4().hex, status="delivered")

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime) -> SmsResult | None:
        return None  # nothing ever left, so nothing can have been sent before a crash


class TwilioSmsBackend:
    """Twilio's Messages API through the twilio SDK, with an explicit timeout."""

    name = "twilio"

    def __init__(
        self, *, account_sid: str, auth_token: str, api_base_url: str = "", timeout: float = 10.0
    ):
        # pool_connections: one requests.Session reused for every call of this backend.
        http_client = TwilioHttpClient(timeout=timeout, pool_connections=True)
        self.client = Client(account_sid, auth_token, http_client=http_client)
        if api_base_url:
            # A local fake or a recording proxy instead of https://api.twilio.com. The SDK
            # builds every Messages URL (and next-page URL) from this domain's base_url.
            self.client.api.base_url = api_base_url.rstrip("/")
            # TWILIO_EDGE / TWILIO_REGION would rewrite the host name: not for a local URL.
            self.client.edge = None
            self.client.region = None

    def send(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str = "",
        messaging_service_sid: str = "",
    ) -> SmsResult:
        params: dict[str, str] = {"to": to, "body": body}
        if messaging_service_sid:
            params["messaging_service_sid"] = messaging_service_sid
        else:
            params["from_"] = from_
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except (TwilioException, requests.RequestException) as exc:
            raise _send_error(exc, "send") from exc
        return _result(message)

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime) -> SmsResult | None:
        """The message with this body sent to `to` since `since`, if Twilio has one.

        Used to reconcile a message left "sending" by a crash. Filters on date_created here
        rather than Twilio's DateSent filter: a message Twilio accepted but has not sent yet
        has no date_sent, and missing it would mean sending it a second time.
        """
        params: dict = {"to": to, "limit": FIND_SENT_LIMIT}
        if from_:
            params["from_"] = from_
        try:
            messages = self.client.messages.list(**params)
        except (TwilioException, requests.RequestException) as exc:
            raise _send_error(exc, "lookup") from exc
        earliest = since - FIND_SENT_CLOCK_SKEW
        wanted = body.strip()
        for message in messages:  # newest first
            created = message.date_created
            if isinstance(created, datetime) and created < earliest:
                continue
            if (message.body or "").strip() == wanted:
                return _result(message)
        return None


def _result(message) -> SmsResult:
    error_code = message.error_code
    return SmsResult(
        sid=message.sid,
        status=sms_status_normalise(message.status or ""),
        error_code="" if error_code in (None, 0) else str(error_code),
    )


def _send_error(exc: Exception, action: str) -> SmsSendError:
    """A Twilio or transport failure as an SmsSendError, without URLs or credentials."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = int(exc.status or 0)
        # The SDK puts the HTTP status in `code` when the body had no Twilio error code.
        code = "" if exc.code in (None, status) else str(exc.code)
        detail = getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "")
        # 429 and 5xx are Twilio's side and pass; a recipient-side code never will.
        permanent = code in PERMANENT_ERROR_CODES and 400 <= status < 500 and status != 429
        return SmsSendError(
            f"Twilio {action} failed: HTTP {status} error {code or '-'}: {detail}",
            code=code,
            permanent=permanent,
            http_status=status,
        )
    # Timeouts, refused connections, unreadable answers. A timed-out send may still have
    # been accepted by Twilio: callers reconcile with find_sent before sending again.
    return SmsSendError(f"Twilio {action} failed: {type(exc).__name__}", permanent=False)


@lru_cache(maxsize=4)
def _twilio_backend(
    account_sid: str, auth_token: str, api_base_url: str, timeout: float
) -> TwilioSmsBackend:
    return TwilioSmsBackend(
        account_sid=account_sid, auth_token=auth_token, api_base_url=api_base_url, timeout=timeout
    )


def get_sms_backend() -> OutboxSmsBackend | TwilioSmsBackend:
    """Twilio when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set, else the outbox."""
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN:
        # Cached so the HTTP connection pool is reused; settings changes make a new one.
        return _twilio_backend(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            settings.TWILIO_API_BASE_URL,
            float(settings.PROVIDER_TIMEOUT_SECONDS),
        )
    return OutboxSmsBackend()


def sms_status_callback_url() -> str:
    """Where Twilio posts delivery updates: the public URL of the status webhook."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("twilio_status")

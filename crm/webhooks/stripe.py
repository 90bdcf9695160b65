"""Stripe webhooks: POST /webhooks/stripe/.

Each request: verify the Stripe-Signature header over the raw body with the SDK (tolerance
300 s) -> store a WebhookEvent once per event id -> process it with one handler per type
(crm.services.billing.stripe_intake). A bad, missing or stale signature, or a body that is not
a Stripe event, is refused with 400 before anything is stored. Types we do not act on are
answered 200 and not stored. A duplicate (even a concurrent one) is 200 with no second effect;
a failing handler is 200 too: the event keeps its error and is retried on schedule (and can be
replayed from System > Webhook events), so Stripe need not send it again.
"""

from __future__ import annotations

import json
import logging

import stripe
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.services.billing.stripe_intake import stripe_event_accept

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        logger.warning("Stripe webhook refused: no STRIPE_WEBHOOK_SECRET")
        return HttpResponseBadRequest("Webhook signing is not configured")
    try:
        # The SDK's own check (what stripe.Webhook.construct_event runs before building its
        # object, which would fail on a signed body that is not an event object).
        stripe.WebhookSignature.verify_header(body, request.headers.get("Stripe-Signature"), secret,
                                              tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        logger.warning("Stripe webhook refused: %s", exc.user_message or exc)
        return HttpResponseBadRequest("Invalid Stripe signature")
    except UnicodeDecodeError:
        return HttpResponseBadRequest("The body is not UTF-8")
    text = body.decode()
    if "\\u0000" in text:
        return HttpResponseBadRequest("NUL characters are not allowed")
    try:
        event = stripe_event_accept(payload=json.loads(text))
    except (ValueError, RecursionError) as exc:  # StripeEventInvalid, or not JSON at all
        return HttpResponseBadRequest(f"Not a Stripe event: {exc}"[:200])
    return JsonResponse({"received": True, "stored": event is not None})

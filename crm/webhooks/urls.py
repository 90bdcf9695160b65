"""Provider webhooks: public, unauthenticated, each verified by its provider's signature."""

from django.urls import path

from . import stripe, twilio, twilio_voice

urlpatterns = [
    path("twilio/sms/", twilio.twilio_sms_webhook, name="twilio_sms"),
    path("twilio/status/", twilio.twilio_status_webhook, name="twilio_status"),
    path("twilio/voice/twiml/<int:call_id>/", twilio_voice.twilio_voice_twiml, name="twilio_voice_twiml"),
    path("twilio/voice/notice/", twilio_voice.twilio_voice_notice, name="twilio_voice_notice"),
    path("twilio/voice/status/<int:call_id>/", twilio_voice.twilio_voice_status, name="twilio_voice_status"),
    path("stripe/", stripe.stripe_webhook, name="stripe"),
]

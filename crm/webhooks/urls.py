"""Provider webhooks: public, unauthenticated, each verified by its provider's signature."""

from django.urls import path

from . import twilio

urlpatterns = [
    path("twilio/sms/", twilio.twilio_sms_webhook, name="twilio_sms"),
    path("twilio/status/", twilio.twilio_status_webhook, name="twilio_status"),
]

from django.urls import path, register_converter

from crm.selectors.leads import PREVIEW_TOKEN

from . import views


class PreviewTokenConverter:
    """Only strings that can be preview tokens reach the views; anything else is a 404."""

    regex = PREVIEW_TOKEN.pattern

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PreviewTokenConverter, "preview_token")

app_name = "preview"
urlpatterns = [
    path("<preview_token:token>/", views.preview_page, name="page"),
    path("<preview_token:token>/t/", views.track, name="track"),
    path("<preview_token:token>/claim/", views.claim, name="claim"),
    path("<preview_token:token>/claim/pay/", views.claim_pay, name="claim_pay"),
    path("<preview_token:token>/claim/success/", views.claim_success, name="claim_success"),
    path("<preview_token:token>/claim/cancel/", views.claim_cancel, name="claim_cancel"),
    # "billing" is too short to be a preview token, so these never meet the routes above.
    path("billing/done/", views.billing_portal_done, name="billing_portal_done"),
    path("billing/<str:signed>/", views.billing_portal, name="billing_portal"),
]

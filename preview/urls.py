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
]

from django.urls import path

from . import views

app_name = "preview"
urlpatterns = [
    path("<str:token>/", views.preview_page, name="page"),
    path("<str:token>/t/", views.track, name="track"),
]

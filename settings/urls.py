from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from crm.api import api

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # The Revenue and My earnings pages (before the admin's own URLs, whose catch-all would 404).
    path("admin/", include("crm.admin.revenue")),
    path("admin/", include("crm.admin.queue")),  # My queue: the rep's home page
    # Password reset by email, linked from the admin login page (Django's own views and templates).
    path("admin/password_reset/", auth_views.PasswordResetView.as_view(), name="admin_password_reset"),
    path("admin/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", include("crm.admin.health")),  # System -> Health
    path("admin/", admin.site.urls),
    path("p/", include("preview.urls")),
    path("webhooks/", include("crm.webhooks.urls")),
    path("api/v1/", api.urls),
    path("health/", include("crm.views.health")),
]

"""Local development: everything works with no environment variables."""

from .base import *  # noqa: F403

# Demo data (manage.py seed_demo) is for development databases only.
DEMO_DATA_ALLOWED = True

# Password reset emails (admin login -> "Forgotten your password?") are printed on the console.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

"""Test settings: fast hashing, synchronous tasks, offline providers."""

from .base import *  # noqa: F403
from .base import Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
DEBUG = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Provider calls in the calling thread: test databases live in one connection's transaction.
PROVIDER_CONCURRENCY = 1
# No per-number pacing in tests (the limiter has its own tests); twilio stays offline.
SMS_RATE_PER_NUMBER = 0
# A sender run by a test sends what is due and returns; it never waits for later slots.
SMS_SENDER_BUDGET_SECONDS = 0
# Sends in the calling thread: test databases live in one connection's transaction.
SMS_SENDER_THREADS = 1
# WhiteNoise finds static files through the finders (no collectstatic in tests).
WHITENOISE_AUTOREFRESH = True
# seed_demo runs in tests (DEBUG is off here, as in every test run).
DEMO_DATA_ALLOWED = True
DEMO_DATA_REQUIRES_DEBUG = False

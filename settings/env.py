"""The ONLY module that reads the environment. Everything else imports from here."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
CONN_MAX_AGE = env.int("DJANGO_CONN_MAX_AGE", default=60)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="America/New_York")
Q_WORKERS = env.int("Q_WORKERS", default=2)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Sign-in lockout: wrong passwords for one username from one address before it is locked, and
# for how many minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
# Production only: reverse proxies in front of the web process, each adding the address it saw
# to X-Forwarded-For (0: clients connect directly and REMOTE_ADDR is theirs).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
# Provider credentials: empty means the offline backend is used.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Twilio API base URL: empty for https://api.twilio.com; a local fake for tests and benchmarks.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
# Send through this Messaging Service (MG...) instead of a From number, when set.
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
# SMS pacing: messages per second per sending number (a US long code takes about 1/s).
SMS_RATE_PER_NUMBER = env.float("SMS_RATE_PER_NUMBER", default=1.0)
# A sequence step due more than this many hours ago is skipped, not sent stale.
SMS_STALE_AFTER_HOURS = env.int("SMS_STALE_AFTER_HOURS", default=12)
# Senders running at once (each one worker task), and how long one runs before handing over.
SMS_SENDERS = env.int("SMS_SENDERS", default=2)
SMS_SENDER_BUDGET_SECONDS = env.float("SMS_SENDER_BUDGET_SECONDS", default=50.0)
# Texts one sender has in flight at once (threads): provider calls take 50-300 ms each.
SMS_SENDER_THREADS = env.int("SMS_SENDER_THREADS", default=4)
# The dispatcher queues a number's texts at most this far ahead of their slots.
SMS_PLAN_AHEAD_SECONDS = env.int("SMS_PLAN_AHEAD_SECONDS", default=120)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Stripe API base URL: empty for https://api.stripe.com; a local fake for tests and benchmarks.
STRIPE_API_BASE_URL = env.str("STRIPE_API_BASE_URL", default="")
SERPAPI_API_KEY = env.str("SERPAPI_API_KEY", default="")
SERPER_API_KEY = env.str("SERPER_API_KEY", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="https://api.openai.com/v1")
LLM_MODEL = env.str("LLM_MODEL", default="gpt-4o-mini")
SERPAPI_BASE_URL = env.str("SERPAPI_BASE_URL", default="https://serpapi.com")
SERPER_BASE_URL = env.str("SERPER_BASE_URL", default="https://google.serper.dev")
# Good citizenship toward providers: per-call timeout, attempts, requests per second
# (shared by every worker through Redis or the database).
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=10.0)
PROVIDER_MAX_ATTEMPTS = env.int("PROVIDER_MAX_ATTEMPTS", default=4)
SERPAPI_RATE_PER_SECOND = env.float("SERPAPI_RATE_PER_SECOND", default=5.0)
SERPER_RATE_PER_SECOND = env.float("SERPER_RATE_PER_SECOND", default=5.0)
LLM_RATE_PER_SECOND = env.float("LLM_RATE_PER_SECOND", default=5.0)
# Provider calls a worker makes at once (threads); the shared rate limit still applies.
PROVIDER_CONCURRENCY = env.int("PROVIDER_CONCURRENCY", default=4)
# Lead import: upload size limit and the row count above which imports run in the worker.
IMPORT_MAX_UPLOAD_MB = env.int("IMPORT_MAX_UPLOAD_MB", default=50)
IMPORT_BACKGROUND_ROWS = env.int("IMPORT_BACKGROUND_ROWS", default=2000)
# JSON API (/api/v1/): requests per minute per token before it answers 429.
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=300)
# `manage.py doctor` and System -> Health fail when the uploads disk has less free space (MB).
HEALTH_MIN_FREE_DISK_MB = env.int("HEALTH_MIN_FREE_DISK_MB", default=1024)
# Public preview tracking: events per minute per visitor address and preview link.
TRACKING_EVENTS_PER_MINUTE = env.int("TRACKING_EVENTS_PER_MINUTE", default=60)
# ... and per visitor address whatever the link (made-up links cost look-ups too).
TRACKING_EVENTS_PER_ADDRESS = env.int("TRACKING_EVENTS_PER_ADDRESS", default=600)

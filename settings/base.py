"""Settings shared by every environment. Values from the environment come from env.py."""

from datetime import timedelta

from . import env as E
from .q_cluster import build_q_cluster
from .unfold import UNFOLD as UNFOLD

BASE_DIR = E.BASE_DIR
DEBUG = E.DEBUG
SECRET_KEY = E.SECRET_KEY or "insecure-local-development-key-not-for-production-use-0123456789"
ALLOWED_HOSTS = E.ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = E.CSRF_TRUSTED_ORIGINS
PUBLIC_BASE_URL = E.PUBLIC_BASE_URL

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "import_export",
    "django_q",
    "ninja",  # the API docs from its bundled static files, not a CDN
    "axes",
    "crm",
    "preview",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crm.middleware.UserTimezoneMiddleware",
    # Last, as django-axes requires: turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "/admin/login/"
# Unfold's login form drops ?next=, so land on the admin index.
LOGIN_REDIRECT_URL = "/admin/"

# Sign-in lockout (django-axes): one username from one address is locked after
# AXES_FAILURE_LIMIT wrong passwords, for the cool-off; admins clear it under System.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = E.AXES_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=E.AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Each attempt while locked restarts the cool-off, so the page can say exactly how long to wait.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# A successful sign-in forgets that username and address's earlier wrong passwords.
AXES_RESET_ON_SUCCESS = True
# The locked-out user gets the login page again, saying so and for how long.
AXES_LOCKOUT_CALLABLE = "crm.admin.security.login_lockout_response"
# Every failed sign-in is kept for the Failed sign-ins page; successful ones are not logged.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_DISABLE_ACCESS_LOG = True
# crm.admin.security registers axes' admins, with Unfold styling and for the ADMIN role only.
AXES_ENABLE_ADMIN = False
# The client's address is the socket's; settings/production.py reads the proxy's header instead.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def build_databases(database_url: str, base_dir) -> dict:
    """PostgreSQL when DATABASE_URL is set, else a SQLite file tuned for web + worker."""
    if database_url:
        db = E.env.db_url_config(database_url)
        db["CONN_MAX_AGE"] = E.CONN_MAX_AGE
        db["CONN_HEALTH_CHECKS"] = True
        # Parameters bound by the server: psycopg prepares a statement run five times on a
        # connection, and PostgreSQL stops parsing and planning the sender's and dispatcher's
        # per-text statements each time (bench/sender.py).
        if "postgresql" in db["ENGINE"]:
            db.setdefault("OPTIONS", {})["server_side_binding"] = True
        return {"default": db}
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": base_dir / "db.sqlite3",
            "CONN_MAX_AGE": E.CONN_MAX_AGE,
            "OPTIONS": {
                # The worker writes beside the web server: WAL + busy timeout + IMMEDIATE
                # transactions, or "database is locked" follows.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=20000;"
                ),
            },
        }
    }


DATABASES = build_databases(E.DATABASE_URL, BASE_DIR)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = E.TIME_ZONE
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REDIS_URL = E.REDIS_URL
# Shared by every process through Redis when configured (rate limits must be); else per process.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": E.REDIS_URL}
    if E.REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
TRACKING_EVENTS_PER_MINUTE = E.TRACKING_EVENTS_PER_MINUTE
TRACKING_EVENTS_PER_ADDRESS = E.TRACKING_EVENTS_PER_ADDRESS
Q_CLUSTER = build_q_cluster(E.REDIS_URL, E.Q_WORKERS)

# Provider credentials (empty -> offline backend).
TWILIO_ACCOUNT_SID = E.TWILIO_ACCOUNT_SID
TWILIO_AUTH_TOKEN = E.TWILIO_AUTH_TOKEN
TWILIO_API_BASE_URL = E.TWILIO_API_BASE_URL
TWILIO_MESSAGING_SERVICE_SID = E.TWILIO_MESSAGING_SERVICE_SID
SMS_RATE_PER_NUMBER = E.SMS_RATE_PER_NUMBER
SMS_STALE_AFTER_HOURS = E.SMS_STALE_AFTER_HOURS
SMS_SENDERS = E.SMS_SENDERS
SMS_SENDER_BUDGET_SECONDS = E.SMS_SENDER_BUDGET_SECONDS
SMS_SENDER_THREADS = E.SMS_SENDER_THREADS
SMS_PLAN_AHEAD_SECONDS = E.SMS_PLAN_AHEAD_SECONDS
STRIPE_SECRET_KEY = E.STRIPE_SECRET_KEY
STRIPE_WEBHOOK_SECRET = E.STRIPE_WEBHOOK_SECRET
STRIPE_API_BASE_URL = E.STRIPE_API_BASE_URL
SERPAPI_API_KEY = E.SERPAPI_API_KEY
SERPER_API_KEY = E.SERPER_API_KEY
LLM_API_KEY = E.LLM_API_KEY
LLM_BASE_URL = E.LLM_BASE_URL
LLM_MODEL = E.LLM_MODEL
SERPAPI_BASE_URL = E.SERPAPI_BASE_URL
SERPER_BASE_URL = E.SERPER_BASE_URL
PROVIDER_TIMEOUT_SECONDS = E.PROVIDER_TIMEOUT_SECONDS
PROVIDER_MAX_ATTEMPTS = E.PROVIDER_MAX_ATTEMPTS
PROVIDER_CONCURRENCY = E.PROVIDER_CONCURRENCY
PROVIDER_RATE_PER_SECOND = {
    "serpapi": E.SERPAPI_RATE_PER_SECOND,
    "serper": E.SERPER_RATE_PER_SECOND,
    "llm": E.LLM_RATE_PER_SECOND,
}

# Exports neutralise formulas themselves (crm.admin.resources), more thoroughly than
# import-export's own option, which only strips a leading "=".
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
# import-export allows import and export to anyone by default; require the model permissions.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_MAX_UPLOAD_BYTES = E.IMPORT_MAX_UPLOAD_MB * 1024 * 1024
IMPORT_BACKGROUND_ROWS = E.IMPORT_BACKGROUND_ROWS
API_RATE_PER_MINUTE = E.API_RATE_PER_MINUTE
# Hours an Idempotency-Key's answer is replayed; an older key is free again, and the
# "api-idempotency-purge" schedule deletes it.
API_IDEMPOTENCY_HOURS = 24
HEALTH_MIN_FREE_DISK_MB = E.HEALTH_MIN_FREE_DISK_MB
# Uploads up to the import limit are accepted by Django; the import reports oversize files.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # Django's own console handler would print every django.* line a second time.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # The twilio SDK logs every request (phone numbers included) at INFO.
        "twilio.http_client": {"level": "WARNING"},
        # httpx logs every request URL (search queries with business names) at INFO.
        "httpx": {"level": "WARNING"},
    },
}

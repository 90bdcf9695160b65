"""Production: every secret comes from the environment, with no default."""

from . import env as E
from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = E.env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = E.env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = build_databases(E.env.str("DATABASE_URL"), BASE_DIR)  # noqa: F405
REDIS_URL = E.env.str("REDIS_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
Q_CLUSTER = build_q_cluster(REDIS_URL, E.Q_WORKERS)  # noqa: F405
PUBLIC_BASE_URL = E.env.str("PUBLIC_BASE_URL")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = E.SECURE_SSL_REDIRECT
# Load balancers probe /health/live and /health/ready over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The sign-in lockout keys on the address the nearest trusted proxy appended to X-Forwarded-For;
# entries left of it are the client's own word and could be forged to dodge the lockout.
if E.TRUSTED_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    # ipware counts the proxies listed after the client: all but the last, seen as REMOTE_ADDR.
    AXES_IPWARE_PROXY_COUNT = E.TRUSTED_PROXY_COUNT - 1
    # Count from the right even when forged or garbled entries sit on the left.
    IPWARE_STRICT = False

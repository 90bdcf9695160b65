"""The JSON API's records: per-user tokens (stored hashed) and the answers to idempotent POSTs."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A user's key to /api/v1/. Only the SHA-256 of the secret is kept; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'Website form' or 'Zapier'.")
    # The token's first characters, shown in lists so a person can tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiIdempotencyKey(models.Model):
    """The answer given to a POST with an Idempotency-Key, replayed when the same key comes again."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)  # 0 while the first request runs
    response = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API idempotency key"
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="api_idempotency_token_key")]
        # The scheduled purge deletes by age (crm.services.api_idempotency).
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_created")]

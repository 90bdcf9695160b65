"""Reads of leads."""

import re

from crm.models import Lead

# What new_preview_token makes (URL-safe base64), with room for longer ones: anything else
# cannot be a token and never reaches the database (a NUL byte made PostgreSQL raise).
PREVIEW_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


def preview_token_valid(token: str) -> bool:
    return isinstance(token, str) and PREVIEW_TOKEN.fullmatch(token) is not None


def lead_get_by_preview_token(*, token: str) -> Lead | None:
    if not preview_token_valid(token):
        return None
    return Lead.objects.filter(preview_token=token).first()


def lead_id_by_preview_token(*, token: str) -> int | None:
    if not preview_token_valid(token):
        return None
    return Lead.objects.filter(preview_token=token).values_list("pk", flat=True).first()

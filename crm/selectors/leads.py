"""Reads of leads."""

from crm.models import Lead


def lead_get_by_preview_token(*, token: str) -> Lead | None:
    if not token or len(token) > 64:
        return None
    return Lead.objects.filter(preview_token=token).first()

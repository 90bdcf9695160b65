"""What leads do on their preview page."""

from django.db import models
from django.db.models import Q

from .leads import Lead


class PreviewEvent(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "View"
        PING = "ping", "Time on page"
        CTA_CLICK = "cta_click", "Button click"
        LEAVE = "leave", "Leave"
        SECTION = "section", "Section seen"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="preview_events")
    session_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    seconds = models.PositiveIntegerField(default=0)
    target = models.CharField(max_length=64, blank=True, help_text="Which button or section.")
    user_agent = models.CharField(max_length=300, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The hot-lead window query: views of one lead in the last N minutes.
            models.Index(fields=["lead", "created_at"], name="preview_lead_time"),
            # The dashboard's preview views per day (crm/selectors/reporting.py).
            models.Index(fields=["created_at"], condition=Q(kind="view"), name="preview_view_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.lead_id}"

"""The saved replies a person may pick on a lead's page, rendered for that lead."""

from django.db.models import Q

from crm.models import CompanySettings, Lead, SavedReply
from crm.services.messaging.templates import TemplateError, template_context, template_render, preview_url

PICKER_LIMIT = 50


def saved_replies_for(*, user, lead: Lead) -> list[dict]:
    """The shared replies and `user`'s own (never another rep's), each with its text for
    `lead` with the merge fields filled in: [{"id", "title", "text", "shared"}]."""
    replies = list(SavedReply.objects.filter(Q(owner__isnull=True) | Q(owner=user))
                   .order_by("title", "id")[:PICKER_LIMIT])
    if not replies:
        return []
    context = template_context(lead=lead, company=CompanySettings.load(), preview_url=preview_url(lead))
    shown = []
    for reply in replies:
        try:
            text = template_render(reply.body, context)
        except (TemplateError, KeyError, ValueError, IndexError):
            text = reply.body  # saved before its merge fields were checked: shown as typed
        shown.append({"id": reply.pk, "title": reply.title, "text": text, "shared": reply.owner_id is None})
    return shown

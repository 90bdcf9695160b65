"""Upsells: turning an upsell candidate (crm.selectors.client_health) into a proposed Upsell."""

from datetime import datetime

from django.db import transaction

from crm.models import Client, TimelineEvent, Upsell
from crm.selectors.client_health import upsell_candidate_for
from crm.services.timeline import timeline_record_many


class UpsellRefused(Exception):
    """Why a client could not be offered an upsell; `code` for callers, the message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def upsell_propose(*, client_id: int, proposed_by, now: datetime) -> Upsell:
    """Propose the client's upgrade to the top plan, as an Upsell (status proposed, recurring, the
    monthly difference as its amount, the client's rep as owner, else the proposer), and note it
    on the lead's timeline. The client must still be a candidate when this runs (checked again
    under a lock on the client, so two clicks make one Upsell); else UpsellRefused and nothing is
    written."""
    with transaction.atomic():
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise UpsellRefused("no_client", "That client does not exist.")
        candidate = upsell_candidate_for(client_id=client.pk, now=now)
        if candidate is None:
            raise UpsellRefused("not_candidate", f"{client.name} is not an upsell candidate any more (an upsell "
                                                 f"is already proposed, or its plan, tenure or health changed).")
        upsell = Upsell.objects.create(
            client=client, product=candidate.offer, amount_cents=candidate.offer_cents, recurring=True,
            status=Upsell.Status.PROPOSED, rep=client.rep or proposed_by,
        )
        if client.lead_id is not None:
            timeline_record_many(leads=[client.lead], kind=TimelineEvent.Kind.NOTE, actor=proposed_by,
                                 data={"text": f"Upsell proposed: {candidate.offer}", "upsell_id": upsell.pk,
                                       "amount_cents": upsell.amount_cents, "currency": upsell.currency})
        return upsell

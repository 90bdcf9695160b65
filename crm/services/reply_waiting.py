"""Whether a lead's last text waits for an answer: Lead.awaiting_reply_since, kept here alone.

The rule (one rule, for the live paths and the backfill alike):
- a text from the lead (inbound, any kind) sets it to that text's time, when newer;
- an answer clears it when the answer came at or after it: a text sent to the lead (it went
  out: sent, delivered or undelivered; a text canceled or failed was never an answer) counts
  from when it was written (`Message.created_at`: a text queued before the reply is no answer to
  it), a call counts from when the lead answered it (`Call.answered_at`) or, for a call logged by
  hand with an outcome that says the two talked, from when it was placed.

Called from: crm.services.messaging.inbound (a text stored), crm.services.messaging.sending (a text
went out), crm.services.calls (the lead answered; a talked outcome logged). The queue
(crm/selectors/queue.py) reads it through the lead_rep_awaiting index instead of reading texts.

Not followed: a text that went out and that the provider later reports failed (the status
callback, crm.services.messaging.status) leaves the reply answered.
"""

from datetime import datetime

from django.db.models import Exists, Max, OuterRef, Q, Subquery

from crm.models import Call, Lead, Message

# Outbound texts that went out: an answer. (Queued and sending ones are not yet; canceled and
# failed ones never were.)
ANSWER_TEXT_STATUSES = ("sent", "delivered", "undelivered")
# Call outcomes that say the rep and the lead talked.
TALKED_OUTCOMES = ("connected", "interested", "not_interested", "callback", "sold")


def reply_waiting_start(*, lead_id: int, at: datetime) -> None:
    """A text from the lead arrived at `at`: it waits for an answer (the newest one counts)."""
    Lead.objects.filter(pk=lead_id).filter(
        Q(awaiting_reply_since__isnull=True) | Q(awaiting_reply_since__lt=at)).update(awaiting_reply_since=at)


def reply_waiting_answered(*, lead_id: int, at: datetime) -> None:
    """The lead was answered at `at` (a text written then, a call the lead answered then):
    a reply that came in at or before `at` no longer waits."""
    Lead.objects.filter(pk=lead_id, awaiting_reply_since__lte=at).update(awaiting_reply_since=None)


def text_answers(status: str) -> bool:
    """Whether an outbound text in this status answered the lead."""
    return status in ANSWER_TEXT_STATUSES


def call_talked(outcome: str) -> bool:
    return outcome in TALKED_OUTCOMES


def reply_waiting_backfill(*, lead_model=Lead, message_model=Message, call_model=Call, lead_ids=None) -> int:
    """Set awaiting_reply_since from the texts and calls already stored, by the rule above (the
    migration calls it with its historical models; the benchmark after loading). Two UPDATEs,
    on SQLite and PostgreSQL alike. Returns the number of leads left waiting."""
    leads = lead_model.objects.all() if lead_ids is None else lead_model.objects.filter(pk__in=lead_ids)
    inbound = message_model.objects.filter(lead=OuterRef("pk"), direction="in")
    newest_in = inbound.order_by().values("lead").annotate(t=Max("created_at")).values("t")[:1]
    leads.filter(awaiting_reply_since__isnull=False).update(awaiting_reply_since=None)
    leads.filter(Exists(inbound)).update(awaiting_reply_since=Subquery(newest_in))
    since = OuterRef("awaiting_reply_since")
    answered_by_text = message_model.objects.filter(lead=OuterRef("pk"), direction="out",
                                                    status__in=ANSWER_TEXT_STATUSES, created_at__gte=since)
    answered_by_call = call_model.objects.filter(
        Q(answered_at__gte=since) | Q(answered_at__isnull=True, outcome__in=TALKED_OUTCOMES, created_at__gte=since),
        lead=OuterRef("pk"))
    waiting = leads.filter(awaiting_reply_since__isnull=False)
    waiting.filter(Exists(answered_by_text) | Exists(answered_by_call)).update(awaiting_reply_since=None)
    return waiting.count()

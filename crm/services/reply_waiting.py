"""Whether a lead's last text waits for an answer: Lead.awaiting_reply_since, kept here alone
(with Lead.last_reply_at, the newest text from the lead, answered or not, set by the same text).

The rule (one rule, for the live paths and the backfill alike):
- a text from the lead (inbound, any kind) sets both to that text's time, when newer;
- an answer clears awaiting_reply_since (last_reply_at stays) when it came at or after it: a
  text sent to the lead that reached it or may yet (sent or delivered; a text canceled, failed
  or undelivered was no answer) counts from when it was written (`Message.created_at`: a text queued before the reply is no answer to
  it), a call counts from when the lead answered it (`Call.answered_at`) or, for a call logged by
  hand with an outcome that says the two talked, from when it was placed;
- a text that counted and that the provider later reports failed or undelivered (the status
  callback) counts no more: the lead's value is worked out again from what is stored.

The lead's status plays no part: a lead closed (paid or lost) keeps its unanswered reply, which
the queue's "Reply waiting" bucket leaves out (it wants status REPLIED) and shows again if a
person reopens the lead as replied.

The rep's "replies" number (crm/selectors/rep_numbers.py) reads last_reply_at to find the leads
that texted in a period.

Called from: crm.services.messaging.inbound (a text stored), crm.services.messaging.sendrows (a
text went out: the clear is part of the sender's one UPDATE of the lead, by
`reply_waiting_answered_sql`), crm.services.messaging.status (a text reported failed),
crm.services.calls (the lead answered; a talked outcome logged). The queue
(crm/selectors/queue.py) reads it through the lead_rep_awaiting index instead of reading texts.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Q, Subquery, Value, When

from crm.models import Call, Lead, Message

# Outbound texts that reached the lead or may yet: an answer. (Queued and sending ones are not
# yet; canceled, failed and undelivered ones never were.)
ANSWER_TEXT_STATUSES = ("sent", "delivered")
# Call outcomes that say the rep and the lead talked.
TALKED_OUTCOMES = ("connected", "interested", "not_interested", "callback", "sold")


def _newest(field: str, at: datetime) -> Case:
    return Case(When(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": at}), then=Value(at)), default=F(field))


def reply_waiting_start(*, lead_id: int, at: datetime) -> None:
    """A text from the lead arrived at `at`: it waits for an answer (the newest one counts) and
    is the lead's last reply (Lead.last_reply_at, when newest). One UPDATE."""
    Lead.objects.filter(pk=lead_id).update(awaiting_reply_since=_newest("awaiting_reply_since", at),
                                           last_reply_at=_newest("last_reply_at", at))


def reply_waiting_answered(*, lead_id: int, at: datetime) -> None:
    """The lead was answered at `at` (a text written then, a call the lead answered then):
    a reply that came in at or before `at` no longer waits."""
    Lead.objects.filter(pk=lead_id, awaiting_reply_since__lte=at).update(awaiting_reply_since=None)


def reply_waiting_answered_sql(*, written_at: str) -> str:
    """`reply_waiting_answered` as one SET item of a plain-SQL UPDATE of the lead, for the
    sender's single statement (crm.services.messaging.sendrows): `written_at` is the SQL for
    when the text was written. Use it only for a text that answers (`text_answers`)."""
    column = Lead._meta.get_field("awaiting_reply_since").column
    return f"{column} = CASE WHEN {column} <= {written_at} THEN NULL ELSE {column} END"


@transaction.atomic
def reply_waiting_recount(*, lead_id: int) -> None:
    """A text counted as an answer turned out to be none (the provider reported it failed or
    undelivered): the lead's value again from its stored texts and calls, by the backfill's rule,
    under the lead's row lock (every other writer of the value updates that row too)."""
    list(Lead.objects.select_for_update().filter(pk=lead_id).values_list("pk"))
    reply_waiting_backfill(lead_ids=[lead_id])


def text_answers(status: str) -> bool:
    """Whether an outbound text in this status answered the lead."""
    return status in ANSWER_TEXT_STATUSES


def call_talked(outcome: str) -> bool:
    return outcome in TALKED_OUTCOMES


def reply_waiting_backfill(*, lead_model=Lead, message_model=Message, call_model=Call, lead_ids=None) -> int:
    """Set awaiting_reply_since and last_reply_at from the texts and calls already stored, by the
    rule above (the migrations call it with their historical models, 0018's before last_reply_at
    existed; the demo seed and the benchmark after loading). Plain UPDATEs, on SQLite and
    PostgreSQL alike. Returns the number of leads left waiting."""
    leads = lead_model.objects.all() if lead_ids is None else lead_model.objects.filter(pk__in=lead_ids)
    inbound = message_model.objects.filter(lead=OuterRef("pk"), direction="in")
    newest_in = inbound.order_by().values("lead").annotate(t=Max("created_at")).values("t")[:1]
    facts = ["awaiting_reply_since"] + [f.name for f in lead_model._meta.fields if f.name == "last_reply_at"]
    leads.filter(Q.create([(f"{name}__isnull", False) for name in facts], connector=Q.OR)).update(
        **{name: None for name in facts})
    leads.filter(Exists(inbound)).update(**{name: Subquery(newest_in) for name in facts})
    since = OuterRef("awaiting_reply_since")
    answered_by_text = message_model.objects.filter(lead=OuterRef("pk"), direction="out",
                                                    status__in=ANSWER_TEXT_STATUSES, created_at__gte=since)
    answered_by_call = call_model.objects.filter(
        Q(answered_at__gte=since) | Q(answered_at__isnull=True, outcome__in=TALKED_OUTCOMES, created_at__gte=since),
        lead=OuterRef("pk"))
    waiting = leads.filter(awaiting_reply_since__isnull=False)
    waiting.filter(Exists(answered_by_text) | Exists(answered_by_call)).update(awaiting_reply_since=None)
    return waiting.count()

"""The rep's queue: which of a rep's leads to work now, in what order, and why.

Shown by the "My queue" page (crm/admin/queue.py: /admin/queue/, URL name `crm_my_queue`; its
refresh partial `crm_my_queue_rows`). Each lead is in at most one bucket, the first it meets:

1. HOT       - priority HOT (not paid or lost). Newest alert first (hot_at descending): the lead
               on the preview page right now is the one to call. The row carries the alert time
               and the first call or text after it (the speed-to-lead timer stops there).
2. REPLY     - status REPLIED and the lead's last text is inbound (newer than any outbound text
               that was not canceled or failed). Longest waiting first.
3. CALLBACK  - next_action_at has come and the lead's last call's outcome is "callback".
4. FOLLOW_UP - any other lead whose next_action_at has come. Most overdue first (as callbacks).

Left out: leads of other reps, opted-out leads, and snoozed leads (next_action_at in the future:
"the lead leaves the queue until then"). The one exception, decided here: a snoozed lead comes
back early, in the HOT or REPLY bucket, when its alert (hot_at) or its last reply is newer than
the last thing a person did on it (the newest timeline event with an actor: a call logged, a
note, a text sent, the next action set). A fresh alert or a reply nobody has seen beats an older
plan; one the rep has already acted on (called, then set "callback tomorrow") stays snoozed.

Queries: four, whatever the number of leads. Three read the candidates with their sort keys, one
per source: the rep's hot leads (lead_rep_hot), replied leads (lead_rep_prio_status) and due
leads (lead_rep_next_action); the buckets, counts and order are made from them in Python. The
fourth reads what is shown for the first `limit` rows. Their subqueries probe per-lead indexes
(message_lead_time, call_lead_time, timeline_lead_time), newest first, one row each. (Three small
statements rather than one with CASE: each stays under PostgreSQL's JIT threshold, whose compile
time alone would cost more than the query at 100,000 leads.)
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, IntegerChoices, OuterRef, Q, Subquery

from crm.models import Call, Lead, Message, TimelineEvent

QUEUE_LIMIT = 50  # rows shown (a phone screenful many times over); the counts cover every lead


class Bucket(IntegerChoices):
    HOT = 1, "Hot"
    REPLY = 2, "Reply waiting"
    CALLBACK = 3, "Callback due"
    FOLLOW_UP = 4, "Follow-up due"


BUCKET_KEYS = {Bucket.HOT: "hot", Bucket.REPLY: "reply", Bucket.CALLBACK: "callback", Bucket.FOLLOW_UP: "follow_up"}
# Outbound texts that never went out are no answer to a reply.
NOT_AN_ANSWER = [Message.Status.CANCELED, Message.Status.FAILED]


@dataclass(frozen=True)
class QueueRow:
    lead_id: int
    business_name: str
    contact_name: str
    phone: str
    city: str
    status: str
    bucket: Bucket
    since: datetime  # when the clock started: the alert, the reply, or the due time
    reason: str
    reached_at: datetime | None = None  # HOT: the first call or text after the alert
    next_action: str = ""

    @property
    def bucket_key(self) -> str:
        return BUCKET_KEYS[self.bucket]


@dataclass
class Queue:
    rows: list[QueueRow]
    counts: dict[str, int] = field(default_factory=dict)  # bucket key -> leads in it

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def _awake(now: datetime) -> Q:
    return Q(next_action_at__isnull=True) | Q(next_action_at__lte=now)


def _person_acted_since(field: str) -> Exists:
    """A person did something on the lead (a timeline event with an actor) at or after `field`."""
    return Exists(TimelineEvent.objects.filter(lead=OuterRef("pk"), actor__isnull=False,
                                               created_at__gte=OuterRef(field)))


def _hot(rep_id: int, now: datetime) -> list[tuple[int, datetime]]:
    """(lead id, alert time) of the HOT bucket (the lead_rep_hot index)."""
    return list(
        Lead.objects.filter(assigned_rep_id=rep_id, priority=Lead.Priority.HOT, hot_at__isnull=False,
                            opted_out_at__isnull=True)
        .exclude(status__in=[Lead.Status.PAID, Lead.Status.LOST])
        .filter(_awake(now) | ~_person_acted_since("hot_at"))
        .order_by().values_list("pk", "hot_at")
    )


def _replies(rep_id: int, now: datetime) -> list[tuple[int, datetime]]:
    """(lead id, last inbound text's time) of replied leads whose last text is inbound."""
    texts = Message.objects.filter(lead=OuterRef("pk")).order_by("-created_at")  # message_lead_time, newest first
    return list(
        Lead.objects.filter(assigned_rep_id=rep_id, status=Lead.Status.REPLIED, opted_out_at__isnull=True)
        .alias(last_direction=Subquery(texts.exclude(status__in=NOT_AN_ANSWER).values("direction")[:1]))
        .filter(last_direction=Message.Direction.INBOUND)
        .annotate(replied_at=Subquery(texts.filter(direction=Message.Direction.INBOUND).values("created_at")[:1]))
        .filter(_awake(now) | ~_person_acted_since("replied_at"))
        .order_by().values_list("pk", "replied_at")
    )


def _due(rep_id: int, now: datetime) -> list[tuple[int, datetime, str]]:
    """(lead id, due time, last call's outcome) of leads whose next action has come
    (the lead_rep_next_action index)."""
    last_call = Call.objects.filter(lead=OuterRef("pk")).order_by("-created_at")  # call_lead_time
    return list(
        Lead.objects.filter(assigned_rep_id=rep_id, next_action_at__lte=now, opted_out_at__isnull=True)
        .annotate(last_call_outcome=Subquery(last_call.values("outcome")[:1]))
        .order_by().values_list("pk", "next_action_at", "last_call_outcome")
    )


def _keyed(rep_id: int, now: datetime) -> list[tuple[tuple, int, Bucket]]:
    """Every lead in the queue as (sort key, id, bucket), each in the first bucket it meets."""
    keyed, seen = [], set()
    for pk, hot_at in _hot(rep_id, now):
        keyed.append(((Bucket.HOT, -hot_at.timestamp(), -pk), pk, Bucket.HOT))  # newest alert first
        seen.add(pk)
    for pk, replied_at in _replies(rep_id, now):
        if pk not in seen:
            keyed.append(((Bucket.REPLY, replied_at.timestamp(), pk), pk, Bucket.REPLY))  # longest waiting first
            seen.add(pk)
    for pk, due_at, outcome in _due(rep_id, now):
        if pk not in seen:
            bucket = Bucket.CALLBACK if outcome == Call.Outcome.CALLBACK else Bucket.FOLLOW_UP
            keyed.append(((bucket, due_at.timestamp(), pk), pk, bucket))  # most overdue first
    return sorted(keyed)


def _minutes(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def _reason(bucket: int, since: datetime, now: datetime, *, reached_at=None, snippet: str = "",
            next_action: str = "") -> str:
    """Why the row is in the queue, in the rep's words."""
    ago = _minutes((now - since).total_seconds())
    if bucket == Bucket.HOT:
        if reached_at is None:
            return f"Hot lead: alert {ago} ago, not called or texted yet"
        return f"Hot lead: alert {ago} ago, reached after {_minutes((reached_at - since).total_seconds())}"
    if bucket == Bucket.REPLY:
        text = f"Replied {ago} ago, waiting for an answer"
        return f"{text}: \u201c{snippet[:80]}\u201d" if snippet else text
    what = f": {next_action}" if next_action else ""
    if bucket == Bucket.CALLBACK:
        return f"Callback due {ago} ago{what}"
    return f"Follow-up due {ago} ago{what}"


def rep_queue(*, rep_id: int, now: datetime, limit: int = QUEUE_LIMIT) -> Queue:
    """The rep's queue at `now`: every bucket counted, the first `limit` rows in order. Four queries."""
    keyed = _keyed(rep_id, now)
    counts = {key: 0 for key in BUCKET_KEYS.values()}
    for _, _, bucket in keyed:
        counts[BUCKET_KEYS[bucket]] += 1
    top = [(pk, bucket) for _, pk, bucket in keyed[:limit]]
    if not top:
        return Queue(rows=[], counts=counts)
    first_call = (Call.objects.filter(lead=OuterRef("pk"), created_at__gte=OuterRef("hot_at"))
                  .order_by("created_at").values("created_at")[:1])
    first_text = (Message.objects.filter(lead=OuterRef("pk"), direction=Message.Direction.OUTBOUND,
                                         created_at__gte=OuterRef("hot_at")).exclude(status__in=NOT_AN_ANSWER)
                  .order_by("created_at").values("created_at")[:1])
    last_in = Message.objects.filter(lead=OuterRef("pk"), direction=Message.Direction.INBOUND).order_by("-created_at")
    shown = {
        row["pk"]: row for row in Lead.objects.filter(pk__in=[pk for pk, _ in top]).annotate(
            first_call_at=Subquery(first_call), first_text_at=Subquery(first_text),
            replied_at=Subquery(last_in.values("created_at")[:1]), reply_body=Subquery(last_in.values("body")[:1]),
        ).order_by().values("pk", "business_name", "contact_first_name", "contact_last_name", "phone", "city",
                            "status", "hot_at", "next_action", "next_action_at", "first_call_at", "first_text_at",
                            "replied_at", "reply_body")
    }
    rows = []
    for pk, bucket in top:
        lead = shown[pk]
        reached_at = snippet = None
        if bucket == Bucket.HOT:
            since = lead["hot_at"]
            touches = [t for t in (lead["first_call_at"], lead["first_text_at"]) if t is not None]
            reached_at = min(touches) if touches else None
        elif bucket == Bucket.REPLY:
            since, snippet = lead["replied_at"], lead["reply_body"] or ""
        else:
            since = lead["next_action_at"]
        rows.append(QueueRow(
            lead_id=pk, business_name=lead["business_name"], phone=lead["phone"], city=lead["city"],
            contact_name=f"{lead['contact_first_name']} {lead['contact_last_name']}".strip(),
            status=lead["status"], bucket=bucket, since=since, reached_at=reached_at, next_action=lead["next_action"],
            reason=_reason(bucket, since, now, reached_at=reached_at, snippet=snippet or "",
                           next_action=lead["next_action"]),
        ))
    return Queue(rows=rows, counts=counts)

"""The rep's queue: which of a rep's leads to work now, in what order, and why.

Shown by the "My queue" page (crm/admin/queue.py: /admin/queue/, URL name `crm_my_queue`; its
refresh partial `crm_my_queue_rows`). Each lead is in at most one bucket, the first it meets:

1. HOT       - priority HOT (not paid or lost). Newest alert first (hot_at descending): the lead
               on the preview page right now is the one to call. The row carries the alert time
               and the first call or text after it (the speed-to-lead timer stops there).
2. REPLY     - status REPLIED and the lead's last text is unanswered: Lead.awaiting_reply_since, the
               newest text from the lead while no text went to it and it answered no call since
               (kept by crm.services.reply_waiting alone). Longest waiting first.
3. CALLBACK  - next_action_at has come and the next action is a callback the lead asked for
               (Lead.next_action_is_callback: set with the next action when a call is logged
               "callback", crm.services.next_actions).
4. FOLLOW_UP - any other lead whose next_action_at has come. Most overdue first (as callbacks).

Left out: leads of other reps, opted-out leads, and snoozed leads (next_action_at in the future:
"the lead leaves the queue until then"). The one exception, decided here: a snoozed lead comes
back early, in the HOT or REPLY bucket, when its alert (hot_at) or its last reply is newer than
the last thing a person did on it (the newest timeline event with an actor: a call logged, a
note, a text sent, the next action set). A fresh alert or a reply nobody has seen beats an older
plan; one the rep has already acted on (called, then set "callback tomorrow") stays snoozed.

Counts are exact. Queries: four, whatever the number of leads (three with limit=0, the counts
alone, as the rep's dashboard asks). One per bucket source, each reading its own index and
returning its first `limit` rows with its count(s) as window counts over every row it keeps:
the rep's hot leads (lead_rep_hot), waiting replies (lead_rep_awaiting, partial: a few rows per
rep), due leads (lead_rep_next_action; callbacks and follow-ups counted apart in the same scan).
Each bucket's test is on the lead's own columns, so a lead is counted once, in its first bucket;
only a snoozed lead's "did a person act since?" probes the timeline (timeline_lead_time). The
fourth reads what is shown for the rows kept; its subqueries probe per-lead indexes
(message_lead_time, call_lead_time), newest first, one row each.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, Count, Exists, IntegerChoices, OuterRef, Q, Subquery, Value, When, Window

from crm.models import Call, Lead, Message, TimelineEvent

QUEUE_LIMIT = 50  # rows shown (a phone screenful many times over); the counts cover every lead


class Bucket(IntegerChoices):
    HOT = 1, "Hot"
    REPLY = 2, "Reply waiting"
    CALLBACK = 3, "Callback due"
    FOLLOW_UP = 4, "Follow-up due"


BUCKET_KEYS = {Bucket.HOT: "hot", Bucket.REPLY: "reply", Bucket.CALLBACK: "callback", Bucket.FOLLOW_UP: "follow_up"}
# Outbound texts that never went out: no first touch after an alert.
NOT_AN_ANSWER = [Message.Status.CANCELED, Message.Status.FAILED]
CLOSED = [Lead.Status.PAID, Lead.Status.LOST]


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


def _is_hot(now: datetime) -> Q:
    """In the HOT bucket (with the rep's, not opted out): hot, open, awake or alerted anew."""
    return (Q(priority=Lead.Priority.HOT, hot_at__isnull=False) & ~Q(status__in=CLOSED)
            & (_awake(now) | ~_person_acted_since("hot_at")))


def _is_reply(now: datetime) -> Q:
    """Would be in the REPLY bucket (if not HOT): replied, its last text unanswered, awake or
    the reply newer than anything a person did."""
    return (Q(status=Lead.Status.REPLIED, awaiting_reply_since__isnull=False)
            & (_awake(now) | ~_person_acted_since("awaiting_reply_since")))


def _counted(queryset, *, counts: dict[str, Window], order: list[str], values: list[str], limit: int) -> list[dict]:
    """The first `limit` rows (at least one, which carries the counts: window counts over
    every row the filter keeps, computed before the LIMIT)."""
    return list(queryset.annotate(**counts).order_by(*order).values(*values, *counts)[:max(limit, 1)])


def _bucket_rows(rep_id: int, now: datetime, limit: int) -> tuple[list[tuple[int, Bucket]], dict[str, int]]:
    """(lead id, bucket) of the first `limit` rows of each bucket in queue order, and every
    bucket's count. Three queries, one per index."""
    mine = Lead.objects.filter(assigned_rep_id=rep_id, opted_out_at__isnull=True)
    total = {"n": Window(Count("pk"))}
    # HOT: lead_rep_hot; newest alert first.
    hot = _counted(mine.filter(_is_hot(now)), counts=total, order=["-hot_at", "-pk"], values=["pk"], limit=limit)
    # REPLY: lead_rep_awaiting; longest waiting first.
    replies = _counted(mine.filter(_is_reply(now)).exclude(_is_hot(now)), counts=total,
                       order=["awaiting_reply_since", "pk"], values=["pk"], limit=limit)
    # CALLBACK then FOLLOW_UP: lead_rep_next_action; most overdue first. Due means awake, so
    # the HOT and REPLY tests need no timeline here.
    callback = Q(next_action_is_callback=True)
    due = _counted(
        mine.filter(next_action_at__lte=now)
        .exclude(Q(priority=Lead.Priority.HOT, hot_at__isnull=False) & ~Q(status__in=CLOSED))
        .exclude(status=Lead.Status.REPLIED, awaiting_reply_since__isnull=False),
        counts={"callbacks": Window(Count(Case(When(callback, then=Value(1))))),
                "follow_ups": Window(Count(Case(When(~callback, then=Value(1)))))},
        order=["-next_action_is_callback", "next_action_at", "pk"], values=["pk", "next_action_is_callback"],
        limit=limit)
    counts = {"hot": hot[0]["n"] if hot else 0, "reply": replies[0]["n"] if replies else 0,
              "callback": due[0]["callbacks"] if due else 0, "follow_up": due[0]["follow_ups"] if due else 0}
    top = ([(row["pk"], Bucket.HOT) for row in hot] + [(row["pk"], Bucket.REPLY) for row in replies]
           + [(row["pk"], Bucket.CALLBACK if row["next_action_is_callback"] else Bucket.FOLLOW_UP) for row in due])
    return top[:limit], counts


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
    """The rep's queue at `now`: every bucket counted, the first `limit` rows in order. Four
    queries (three with limit=0: the counts alone)."""
    top, counts = _bucket_rows(rep_id, now, limit)
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
            reply_body=Subquery(last_in.values("body")[:1]),
        ).order_by().values("pk", "business_name", "contact_first_name", "contact_last_name", "phone", "city",
                            "status", "hot_at", "next_action", "next_action_at", "first_call_at", "first_text_at",
                            "awaiting_reply_since", "reply_body")
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
            since, snippet = lead["awaiting_reply_since"], lead["reply_body"] or ""
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

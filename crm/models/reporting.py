"""Pre-counted activity for the dashboard: leads created, texts out and in and preview views per
15-minute slot, kept by crm/services/rollups.py and read by crm/selectors/activity.py.

Exact at every instant: a source's counts cover exactly its rows with id <= `RollupSource.watermark`
(the reader adds the rows above it, live, in the same statement); a counted row deleted marks
the source dirty (a database trigger, migration 0019) and the reader counts live until the next
refresh rebuilds it; a lead given to another rep is logged (`RollupLeadMove`, a trigger too) and
the reader moves that lead's counted rows to its new rep until the refresh folds the move in.
Not registered in the admin: derived data, rebuilt from the rows whenever it is in doubt.
"""

from dataclasses import dataclass

from django.db import models
from django.db.models import ExpressionWrapper, F, Func, Q

from .leads import Lead
from .messaging import Message
from .previews import PreviewEvent

SLOT_SECONDS = 15 * 60  # every UTC offset in use is a multiple of 15 minutes, so local days are whole slots
TEAM = -1  # ActivityCount.rep_id of the whole team's row
NO_REP = 0  # ... of leads nobody is assigned to


class ActivityCount(models.Model):
    class Metric(models.TextChoices):
        LEAD_NEW = "lead_new", "Leads created"  # team rows only
        TEXT_OUT = "text_out", "Texts out (any status)"
        TEXT_IN = "text_in", "Texts in"
        VIEW = "view", "Preview views"

    metric = models.CharField(max_length=10, choices=Metric.choices)
    # TEAM, NO_REP, or the rep of the row's lead (a plain number: derived data, no foreign key).
    rep_id = models.IntegerField()
    slot = models.IntegerField(help_text="UTC epoch seconds // SLOT_SECONDS of the rows' created_at")
    rows = models.IntegerField()

    class Meta:
        # On PostgreSQL the dashboard reads a range of slots from activity_count_read (the same
        # columns and `rows`, migration 0019), from the index alone.
        constraints = [models.UniqueConstraint(fields=["metric", "rep_id", "slot"], name="activity_count_key")]

    def __str__(self) -> str:
        return f"{self.metric} rep {self.rep_id} slot {self.slot}: {self.rows}"


class RollupSource(models.Model):
    """One table counted into ActivityCount: how far, and whether its counts can be trusted."""

    class Name(models.TextChoices):
        LEADS = "leads", "Leads"
        MESSAGES = "messages", "Texts"
        PREVIEWS = "previews", "Preview events"

    name = models.CharField(max_length=10, choices=Name.choices, primary_key=True)
    watermark = models.BigIntegerField(default=0, help_text="Rows with id <= this are counted.")
    dirty = models.BooleanField(default=False, help_text="A counted row was deleted: rebuild before use.")
    # Bumped by every refresh that changes the counts: a reader that read the watermark in one
    # statement and the counts in another checks it did not move in between.
    version = models.BigIntegerField(default=0)
    # The highest id seen at the last refresh and when (the database's clock): counted at the next
    # refresh once no transaction that began before then is still open (crm/services/rollups.py).
    candidate_id = models.BigIntegerField(default=0)
    candidate_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} up to {self.watermark}{' (dirty)' if self.dirty else ''}"


class RollupLeadMove(models.Model):
    """A lead whose rep changed since the last refresh, with the rep it had before (NO_REP for
    none). Written by a trigger on crm_lead (migration 0019), folded and deleted by the refresh."""

    lead_id = models.BigIntegerField()
    from_rep_id = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["lead_id", "id"], name="rollup_move_lead")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} from rep {self.from_rep_id}"


class EpochSeconds(Func):
    """Whole seconds since 1970-01-01 UTC of a datetime column (rounded down), on PostgreSQL and
    SQLite alike: plain arithmetic per row, no time-zone conversion."""

    arity = 1
    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="FLOOR(DATE_PART('epoch', %(expressions)s))::bigint",
                           **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="UNIXEPOCH(%(expressions)s)", **extra)


def slot_of(field: str = "created_at") -> ExpressionWrapper:
    """The ActivityCount.slot a row's `field` falls in."""
    return ExpressionWrapper(EpochSeconds(F(field)) / SLOT_SECONDS, output_field=models.BigIntegerField())


@dataclass(frozen=True)
class Counted:
    """What a source counts: per metric, which of `model`'s rows (by created_at); `per_rep`:
    also per the rep of the row's lead (lead__assigned_rep), as well as for the team."""

    model: type[models.Model]
    metrics: dict[str, Q]
    per_rep: bool

    @property
    def lead_rep(self) -> str:
        """The path from a row to its lead's rep."""
        return "assigned_rep_id" if self.model is Lead else "lead__assigned_rep_id"

    def rows(self, metrics) -> Q:
        """The rows any of `metrics` (of this source's) counts."""
        combined = Q(pk__in=[])
        for metric in metrics:
            if not self.metrics[metric]:
                return Q()
            combined |= self.metrics[metric]
        return combined

    def metric_of(self, metrics):
        """Which of `metrics` a row counts for (a source's metrics never share a row)."""
        metrics = list(metrics)
        if len(metrics) == 1:
            return models.Value(metrics[0])
        return models.Case(*[models.When(self.metrics[metric], then=models.Value(metric)) for metric in metrics])


# One home for what each metric counts (the refresh writes it, the reader adds the live rows by it).
COUNTED = {
    RollupSource.Name.LEADS: Counted(Lead, {ActivityCount.Metric.LEAD_NEW: Q()}, per_rep=False),
    RollupSource.Name.MESSAGES: Counted(Message, {
        ActivityCount.Metric.TEXT_OUT: Q(direction=Message.Direction.OUTBOUND),
        ActivityCount.Metric.TEXT_IN: Q(direction=Message.Direction.INBOUND),
    }, per_rep=True),
    RollupSource.Name.PREVIEWS: Counted(PreviewEvent, {ActivityCount.Metric.VIEW: Q(kind=PreviewEvent.Kind.VIEW)},
                                        per_rep=True),
}

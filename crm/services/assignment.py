"""Who gets a lead: round-robin among available reps, a rep's availability, and the record of
every reassignment on the lead's timeline (kind ASSIGNED, data {"from", "to", "rep", "via"},
actor = the person who did it, none for the automatic round-robin).

Round-robin: the next lead goes to the eligible rep with the lowest assigned_count / weight (ties
to the lowest id), and that rep's RepProfile.assigned_count goes up by one. Eligible: the rep's
profile is active and available and the user is active. The eligible reps' profiles are locked
(SELECT ... FOR UPDATE, in id order, so two assigners never deadlock) for the whole allocation:
two imports running at once take turns per chunk and the counts they read are never stale, so
the spread stays even (+-1 for equal weights) and each lead is assigned once (only leads still
without a rep, locked too, are given one).
"""

import heapq
import math
from collections import defaultdict

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Lead, RepProfile, TimelineEvent, User

ASSIGN_CHUNK = 5000  # leads per transaction: concurrent assigners interleave chunk by chunk


def _eligible_profiles_locked() -> list[RepProfile]:
    return list(
        RepProfile.objects.select_for_update(of=("self",))
        .filter(is_active=True, is_available=True, user__is_active=True)
        .select_related("user").order_by("pk")
    )


def _allocate(profiles: list[RepProfile], count: int) -> list[RepProfile]:
    """`count` picks, each the profile with the lowest (assigned_count + 1) / weight; counts go up."""
    heap = [((p.assigned_count + 1) / max(1, p.assignment_weight), p.pk, i) for i, p in enumerate(profiles)]
    heapq.heapify(heap)
    picks = []
    for _ in range(count):
        _, pk, i = heapq.heappop(heap)
        profile = profiles[i]
        profile.assigned_count += 1
        picks.append(profile)
        heapq.heappush(heap, ((profile.assigned_count + 1) / max(1, profile.assignment_weight), pk, i))
    return picks


def _assigned_events(pairs: list[tuple[Lead | int, User, User | None]], *, actor, via: str) -> None:
    """One ASSIGNED timeline event per (lead, to, from)."""
    now = timezone.now()
    TimelineEvent.objects.bulk_create([
        TimelineEvent(lead_id=lead if isinstance(lead, int) else lead.pk, kind=TimelineEvent.Kind.ASSIGNED,
                      actor=actor, created_at=now,
                      data={"from": previous.get_username() if previous else None,
                            "to": rep.get_username() if rep else None,
                            "rep": rep.get_username() if rep else None, "via": via})
        for lead, rep, previous in pairs
    ], batch_size=1000)


def _round_robin_chunk(lead_ids: list[int], *, actor, via: str) -> int:
    with transaction.atomic():
        profiles = _eligible_profiles_locked()
        if not profiles:
            return 0
        ids = list(Lead.objects.select_for_update().filter(pk__in=lead_ids, assigned_rep__isnull=True)
                   .order_by("pk").values_list("pk", flat=True))
        if not ids:
            return 0
        picks = _allocate(profiles, len(ids))
        by_rep: dict[int, list[int]] = defaultdict(list)
        for lead_id, profile in zip(ids, picks):
            by_rep[profile.user_id].append(lead_id)
        for rep_id, rep_leads in by_rep.items():
            Lead.objects.filter(pk__in=rep_leads).update(assigned_rep_id=rep_id, updated_at=timezone.now())
        RepProfile.objects.bulk_update(profiles, ["assigned_count"])
        _assigned_events([(lead_id, profile.user, None) for lead_id, profile in zip(ids, picks)], actor=actor, via=via)
        return len(ids)


def leads_round_robin(*, leads: QuerySet, actor=None, via: str = "round-robin") -> int:
    """Give every lead in `leads` that has no rep one, by round-robin among the eligible reps,
    ASSIGN_CHUNK leads per transaction. Returns how many were assigned (0 when no rep is
    available: the leads stay unassigned)."""
    assigned = 0
    ids = list(leads.filter(assigned_rep__isnull=True).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), ASSIGN_CHUNK):
        assigned += _round_robin_chunk(ids[start:start + ASSIGN_CHUNK], actor=actor, via=via)
    return assigned


def lead_round_robin(*, lead: Lead, via: str) -> User | None:
    """One lead without a rep (a hot lead) gets one by round-robin; `lead` is updated in place.
    Returns the rep, or None when nobody is available or the lead got a rep meanwhile."""
    if not leads_round_robin(leads=Lead.objects.filter(pk=lead.pk), via=via):
        return None
    lead.assigned_rep = Lead.objects.select_related("assigned_rep").get(pk=lead.pk).assigned_rep
    return lead.assigned_rep


def leads_assign_events(*, changed: list[Lead], previous: dict[int, User | None], rep, actor) -> None:
    """The timeline side of a manual reassignment (crm.services.leads.lead_bulk_assign)."""
    _assigned_events([(lead, rep, previous.get(lead.pk)) for lead in changed], actor=actor, via="assigned by hand")


@transaction.atomic
def rep_set_availability(*, rep: User, available: bool) -> RepProfile:
    """Mark a rep available or away (away reps get no round-robin leads). Coming back, the rep's
    count is raised to the lowest level among the other available reps, so a week away does not
    mean a week of every new lead: the rep rejoins the rotation, not its front."""
    profile, _ = RepProfile.objects.select_for_update().get_or_create(user=rep)
    if profile.is_available == available:
        return profile
    profile.is_available = available
    if available:
        others = list(RepProfile.objects.filter(is_active=True, is_available=True, user__is_active=True)
                      .exclude(pk=profile.pk).values_list("assigned_count", "assignment_weight"))
        if others:
            level = min(count / max(1, weight) for count, weight in others)
            profile.assigned_count = max(profile.assigned_count, math.floor(level * profile.assignment_weight))
    profile.save(update_fields=["is_available", "assigned_count"])
    return profile

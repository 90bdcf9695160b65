"""Lead writes that staff trigger from the admin."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.enqueue import enrichment_enqueue
from crm.models import CompanySettings, Lead, TimelineEvent
from crm.services.assignment import leads_assign_events
from crm.services.imports.rows import (
    MAX_LENGTHS,
    NANP_REGIONS,
    normalise_phone,
    normalise_postcode,
    normalise_state,
    normalise_website,
)
from crm.services.personalisation import lead_set_first_line
from crm.services.timeline import timeline_record_many


@transaction.atomic
def lead_bulk_set_status(*, leads: QuerySet, status: str, actor) -> list[Lead]:
    """Set `status` on every lead in `leads` that does not have it yet.

    Each changed lead gets a status_change timeline event. Returns the changed leads.
    """
    if status not in Lead.Status.values:
        raise ValueError(f"Unknown lead status {status!r}")
    changed = list(leads.exclude(status=status).select_for_update())
    if not changed:
        return []
    previous = {lead.pk: lead.status for lead in changed}
    Lead.objects.filter(pk__in=previous).update(status=status)
    for lead in changed:
        lead.status = status
    timeline_record_many(
        leads=changed, kind=TimelineEvent.Kind.STATUS_CHANGE, actor=actor, data={"to": status}
    )
    return changed


@transaction.atomic
def lead_bulk_assign(*, leads: QuerySet, rep, actor) -> list[Lead]:
    """Assign every lead in `leads` to `rep` (None to unassign); one timeline event each, saying
    from whom, to whom and who did it."""
    changed = list(leads.exclude(assigned_rep=rep).select_related("assigned_rep")
                   .select_for_update(of=("self",)).order_by("pk"))
    if not changed:
        return []
    previous = {lead.pk: lead.assigned_rep for lead in changed}
    Lead.objects.filter(pk__in=[lead.pk for lead in changed]).update(assigned_rep=rep, updated_at=timezone.now())
    for lead in changed:
        lead.assigned_rep = rep
    leads_assign_events(changed=changed, previous=previous, rep=rep, actor=actor)
    return changed


# What a person may type into a lead; the rest is written by the pipeline, tracking and billing.
LEAD_TYPED_FIELDS = frozenset({
    "business_name", "contact_first_name", "contact_last_name", "phone", "email", "website", "category",
    "address", "city", "state", "postcode", "country", "latitude", "longitude",
    "status", "priority", "assigned_rep", "notes", "first_line", "consent_source", "consent_at",
})
CONSENT_FIELDS = ("consent_source", "consent_at")
# Changes with a timeline kind of their own; every other typed field is named in one "edited" event.
OWN_EVENT_FIELDS = frozenset({"status", "assigned_rep", "first_line", *CONSENT_FIELDS})


def _default_region() -> str:
    return CompanySettings.load().default_region or "US"


def _phone_region(country: str) -> str:
    # As the import: a North American country parses its own numbers, any other the company's region.
    return country if country in NANP_REGIONS else _default_region()


def _duplicate_error(phone: str, other: Lead) -> ValidationError:
    return ValidationError(
        "%(phone)s already belongs to %(business_name)s (lead #%(lead_id)s).", code="duplicate",
        params={"phone": phone, "business_name": other.business_name, "lead_id": other.pk},
    )


def lead_validate(*, data: dict, lead: Lead | None = None) -> dict:
    """Check and normalise lead fields typed by a person by the import's own rules
    (crm.services.imports.rows): the phone to E.164, a US state to its code, a ZIP to 12345 or
    12345-6789, a website to an https:// address. Returns `data` with those values normalised.

    For a new lead (`lead` None) every value is judged. For a change only the values in
    `data` are (state and postcode again when the country changes): a stored value is never
    re-judged. Raises ValidationError keyed by field, each naming the problem; a phone that
    already belongs to another lead is code "duplicate", with that lead's id and name in params.
    Reads only.
    """
    unknown = set(data) - LEAD_TYPED_FIELDS
    if unknown:
        raise ValueError(f"Not typed by a person: {', '.join(sorted(unknown))}")
    values = dict(data)
    errors: dict[str, ValidationError] = {}

    def current(name: str):
        return values[name] if name in values else (getattr(lead, name) if lead else "")

    if lead is None and not str(values.get("business_name") or "").strip():
        errors["business_name"] = ValidationError("A business name is required.", code="required")
    for name, limit in MAX_LENGTHS.items():
        if len(str(values.get(name) or "")) > limit:
            errors[name] = ValidationError(f"Is longer than {limit} characters.", code="max_length")
    country = str(current("country") or "").strip().upper() or _default_region()
    if "country" in values or lead is None:
        values["country"] = country
    if "phone" in values or lead is None:
        raw = str(values.get("phone") or "").strip()
        phone, reason = normalise_phone(raw, _phone_region(country))
        if phone is None:
            errors["phone"] = ValidationError(f"“{raw}” {reason}." if raw else "A phone number is required.",
                                              code="invalid")
        else:
            values["phone"] = phone
            others = Lead.objects.filter(phone=phone)
            if lead is not None:
                others = others.exclude(pk=lead.pk)
            other = others.only("pk", "business_name").first()
            if other is not None:
                errors["phone"] = _duplicate_error(phone, other)
    country_changed = lead is not None and "country" in data and country != lead.country
    for name, rule in (("state", normalise_state), ("postcode", normalise_postcode)):
        if name in values or country_changed or lead is None:
            raw = str(current(name) or "").strip()
            value, reason = rule(raw, country) if raw else ("", "")
            if reason:
                errors[name] = ValidationError(f"“{raw}” {reason}.", code="invalid")
            else:
                values[name] = value
    if values.get("website"):
        raw = str(values["website"]).strip()
        url, reason = normalise_website(raw)
        if reason or len(url) > MAX_LENGTHS["website"]:
            errors["website"] = ValidationError(f"“{raw}” {reason or 'is too long'}.", code="invalid")
        else:
            values["website"] = url
    if errors:
        raise ValidationError(errors)
    return values


def _require_consent_writer(actor) -> None:
    # Consent is evidence: written by an import's attestation or by an admin, never by a rep.
    if actor is None or not actor.is_admin:
        raise PermissionDenied("Only an admin may record or change a lead's consent.")


def _consent_event(*, lead: Lead, before: dict, actor) -> TimelineEvent:
    def shown(values: dict) -> dict:
        at = values.get("consent_at")
        return {"source": values.get("consent_source") or "", "at": at.isoformat() if at else None}

    after = {name: getattr(lead, name) for name in CONSENT_FIELDS}
    return TimelineEvent(lead=lead, kind=TimelineEvent.Kind.CONSENT_CHANGED, actor=actor,
                         data={"from": shown(before), "to": shown(after)})


def _save_or_duplicate(lead: Lead, **kwargs) -> None:
    """Save in a savepoint; a phone taken by another lead meanwhile is the same field error."""
    try:
        with transaction.atomic():
            lead.save(**kwargs)
    except IntegrityError:
        other = Lead.objects.filter(phone=lead.phone).exclude(pk=lead.pk).first()
        if other is None:
            raise
        raise ValidationError({"phone": _duplicate_error(lead.phone, other)}) from None


@transaction.atomic
def lead_create(*, data: dict, actor) -> Lead:
    """Add a lead a person typed in, stored exactly as an imported row would be (lead_validate),
    with an "added" timeline event (and "consent_changed" when consent is given, which takes an
    admin), then queue its pipeline (enrichment -> first line -> auto-enrolment) as an import
    does, once the transaction commits. A first line typed in is kept as manual.

    Raises ValidationError or PermissionDenied, writing nothing.
    """
    values = lead_validate(data=data)
    if any(values.get(name) for name in CONSENT_FIELDS):
        _require_consent_writer(actor)
    first_line = str(values.pop("first_line", "") or "").strip()
    lead = Lead(**values)
    if lead.consent_source and not lead.consent_at:
        lead.consent_at = timezone.now()  # as an import's attestation: consent recorded now
    _save_or_duplicate(lead)
    events = [TimelineEvent(lead=lead, kind=TimelineEvent.Kind.ADDED, actor=actor, data={})]
    if lead.consent_source or lead.consent_at:
        events.append(_consent_event(lead=lead, before={}, actor=actor))
    TimelineEvent.objects.bulk_create(events)
    if first_line:
        lead_set_first_line(lead=lead, text=first_line, actor=actor)
        lead.save(update_fields=["first_line", "first_line_source", "first_line_status", "updated_at"])
    lead_id = lead.pk
    transaction.on_commit(lambda: enrichment_enqueue([lead_id]))  # as an import's new leads are
    return lead


@transaction.atomic
def lead_update(*, lead: Lead, data: dict, actor) -> Lead:
    """Change what a person may type on `lead`, by the rules of lead_validate, and return the
    stored lead. The row is re-read under lock and only values that differ are written; unsaved
    changes on the `lead` passed in are not used.

    Each change leaves a timeline event with its actor: status_change, assigned,
    consent_changed (before and after; only an admin may change consent), personalised (a
    first line typed in is kept as manual) and "edited" naming the other fields.
    Raises ValidationError or PermissionDenied, writing nothing.
    """
    stored = Lead.objects.select_for_update().get(pk=lead.pk)
    values = lead_validate(data=data, lead=stored)

    def differs(name: str, value) -> bool:
        if name == "assigned_rep":
            return stored.assigned_rep_id != (value.pk if value else None)
        return getattr(stored, name) != value

    changes = {name: value for name, value in values.items() if differs(name, value)}
    if not changes:
        return stored
    consent_before = {name: getattr(stored, name) for name in CONSENT_FIELDS}
    if any(name in changes for name in CONSENT_FIELDS):
        _require_consent_writer(actor)
        if changes.get("consent_source", stored.consent_source) and not changes.get("consent_at", stored.consent_at):
            changes["consent_at"] = timezone.now()
    for name, value in changes.items():
        setattr(stored, name, value)
    written = set(changes) | {"updated_at"}
    if "first_line" in changes:
        lead_set_first_line(lead=stored, text=stored.first_line, actor=actor)
        written |= {"first_line_source", "first_line_status"}
    _save_or_duplicate(stored, update_fields=sorted(written))

    events = []
    if "status" in changes:
        events.append(TimelineEvent(lead=stored, kind=TimelineEvent.Kind.STATUS_CHANGE, actor=actor,
                                    data={"to": stored.status}))
    if "assigned_rep" in changes:
        rep = stored.assigned_rep
        events.append(TimelineEvent(lead=stored, kind=TimelineEvent.Kind.ASSIGNED, actor=actor,
                                    data={"rep": rep.get_username() if rep else None}))
    if any(name in changes for name in CONSENT_FIELDS):
        events.append(_consent_event(lead=stored, before=consent_before, actor=actor))
    edited = sorted(set(changes) - OWN_EVENT_FIELDS)
    if edited:
        events.append(TimelineEvent(lead=stored, kind=TimelineEvent.Kind.EDITED, actor=actor,
                                    data={"fields": edited}))
    TimelineEvent.objects.bulk_create(events)
    return stored

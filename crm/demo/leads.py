"""Demo import batches and the leads in them: who they are, where, and where they end up."""

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import phonenumbers

from crm.models import ImportBatch, Lead, User

from .data import (
    CITIES,
    EMAIL_DOMAINS,
    FIRST_LINE_TEMPLATES,
    FIRST_NAMES,
    OPENING_HOURS,
    STREETS,
    SURNAMES,
    TRADES,
    City,
    Trade,
)
from .rows import hex_id

DEMO_MARKER = "demo_seed"
S = Lead.Status


@dataclass(frozen=True)
class BatchSpec:
    original_name: str
    days_ago: int
    outcomes: dict[str, int]  # final lead status -> how many leads of this batch end there
    duplicates: int  # repeated within the file
    skipped: int  # already in the database
    errors: int
    columns: dict[str, str]  # lead field -> the file's header, as the import maps them


MAPS_COLUMNS = {"business_name": "Business Name", "phone": "Phone", "address": "Address",
                "city": "City", "state": "State", "postcode": "Zip", "category": "Category"}
BATCH_SPECS = (
    BatchSpec("maps-export-trades-and-dentists.csv", 84,
              {S.PAID: 14, S.LOST: 18, S.NEGOTIATING: 5, S.REPLIED: 9, S.ENGAGED: 20,
               S.CONTACTED: 44}, duplicates=6, skipped=0, errors=3, columns=MAPS_COLUMNS),
    BatchSpec("local-services-list.xlsx", 47,
              {S.PAID: 6, S.LOST: 11, S.NEGOTIATING: 7, S.REPLIED: 12, S.ENGAGED: 22,
               S.CONTACTED: 52}, duplicates=4, skipped=5, errors=2,
              columns={"business_name": "company", "phone": "Mobile", "email": "E-mail",
                       "city": "Town", "state": "ST", "category": "Type"}),
    BatchSpec("chamber-of-commerce-members.csv", 3,
              {S.NEW: 40, S.CONTACTED: 22, S.ENGAGED: 10, S.REPLIED: 5, S.NEGOTIATING: 2,
               S.LOST: 1}, duplicates=2, skipped=3, errors=1,
              columns={"business_name": "Member", "contact_first_name": "Contact First",
                       "contact_last_name": "Contact Last", "phone": "Phone Number",
                       "email": "Email", "address": "Street", "city": "City",
                       "postcode": "ZIP"}),
)
CONSENT_SOURCE = "Public business listing (Google Maps)"
CONSENT_WORDING = "Business line published for customer contact; first text offers STOP."

ROW_ERRORS = (  # (field, value, reason), in the import's row-report shape
    ("phone", "555-12", "is not a valid phone number for region US"),
    ("business_name", "", "is required"),
    ("phone", "+1 (800) 555-0199", "is a toll-free number, which cannot receive texts"),
)


def _row_report(spec: BatchSpec, total: int, rng: random.Random) -> list[dict]:
    rows = rng.sample(range(2, total + 2), spec.errors + spec.duplicates + spec.skipped)
    report = []
    for n, row in enumerate(sorted(rows)):
        if n < spec.errors:
            field_name, value, reason = rng.choice(ROW_ERRORS)
        else:
            field_name, value = "phone", f"+1{rng.choice(CITIES).area_codes[0]}55501{n:02d}"
            reason = ("duplicate of an earlier row in this file" if n < spec.errors + spec.duplicates
                      else "already in the database (skipped)")
        report.append({"row": row, "column": spec.columns.get(field_name, field_name),
                       "value": value, "reason": reason})
    return sorted(report, key=lambda line: line["row"])


@dataclass
class LeadPlan:
    """One lead to insert plus the facts its story is built from."""

    lead: Lead
    city: City
    trade: Trade
    batch: ImportBatch
    row: int
    outcome: str
    rep: User | None
    hot: bool = False
    created_at: datetime | None = None
    paid_at: datetime | None = None
    last_at: datetime | None = None
    extras: dict = field(default_factory=dict)


def demo_batches_create(*, admin: User, now: datetime, rng: random.Random) -> list[ImportBatch]:
    """The finished imports the demo leads came from, tagged with the demo marker."""
    batches = []
    for spec in BATCH_SPECS:
        created = sum(spec.outcomes.values())
        total = created + spec.duplicates + spec.skipped + spec.errors
        started = (now - timedelta(days=spec.days_ago)).replace(hour=15, minute=12, second=0)
        batch = ImportBatch.objects.create(
            original_name=spec.original_name,
            uploaded_by=admin,
            options={DEMO_MARKER: True, "on_duplicate": "skip", "dry_run": False},
            status=ImportBatch.Status.DONE,
            total_rows=total,
            processed_rows=total,
            created_count=created,
            skipped_count=spec.skipped,
            duplicate_count=spec.duplicates,
            error_count=spec.errors,
            error_report=_row_report(spec, total, rng),
            summary={"notes": [], "unknown_columns": [], "columns": spec.columns,
                     "file_format": spec.original_name.rsplit(".", 1)[-1]},
            consent_source=CONSENT_SOURCE,
            consent_wording=CONSENT_WORDING,
            consent_recorded_by=admin,
            consent_recorded_at=started,
            finished_at=started + timedelta(minutes=2, seconds=rng.randint(0, 59)),
        )
        ImportBatch.objects.filter(pk=batch.pk).update(created_at=started)
        batch.created_at = started
        batches.append(batch)
    return batches


def _city_slots(total: int, rng: random.Random) -> list[City]:
    """`total` cities in proportion to their weights, every city at least once, shuffled."""
    weight_sum = sum(c.weight for c in CITIES)
    counts = [max(1, total * c.weight // weight_sum) for c in CITIES]
    order = sorted(range(len(CITIES)), key=lambda i: -CITIES[i].weight)
    i = 0
    while sum(counts) < total:
        counts[order[i % len(order)]] += 1
        i += 1
    slots = [city for city, n in zip(CITIES, counts, strict=True) for _ in range(n)][:total]
    rng.shuffle(slots)
    return slots


class PhonePool:
    """Unique, valid E.164 numbers per city: real area codes, 555-0101..0199 subscriber."""

    def __init__(self, rng: random.Random, taken: Iterable[str]) -> None:
        self.rng = rng
        self.taken = set(taken)
        self.pools: dict[str, list[str]] = {}

    def take(self, city: City) -> str:
        pool = self.pools.get(city.name)
        if pool is None:
            pool = [f"+1{code}55501{n:02d}" for code in city.area_codes for n in range(1, 100)]
            self.rng.shuffle(pool)
            self.pools[city.name] = pool
        while pool:
            phone = pool.pop()
            if phone in self.taken:
                continue
            if not phonenumbers.is_valid_number(phonenumbers.parse(phone)):
                raise AssertionError(f"demo phone {phone} is not a valid number")
            self.taken.add(phone)
            return phone
        raise RuntimeError(f"Ran out of fictional numbers for {city.name}")


def _business_name(trade: Trade, city: City, surname: str, rng: random.Random) -> str:
    pattern = rng.choice(trade.name_patterns)
    return pattern.format(surname=surname, city=city.name, word=rng.choice(trade.words))


def _enrichment(lead: Lead, trade: Trade, city: City, rng: random.Random) -> dict:
    rating = round(rng.uniform(3.6, 5.0), 1)
    return {
        "source": "offline",
        "place_id": "ChIJ" + hex_id(rng, "", 23),
        "title": lead.business_name,
        "category": trade.category,
        "rating": rating,
        "review_count": rng.randint(4, 420),
        "hours": rng.choice(OPENING_HOURS),
        "website": lead.website,
        "address": f"{lead.address}, {city.name}, {city.state} {lead.postcode}",
        "latitude": float(lead.latitude),
        "longitude": float(lead.longitude),
    }


def _first_line(lead: Lead, trade: Trade, city: City, data: dict, rng: random.Random) -> str:
    template = rng.choice(FIRST_LINE_TEMPLATES if data.get("rating") else FIRST_LINE_TEMPLATES[1:2])
    return template.format(
        business_name=lead.business_name,
        city=city.name,
        category_lower=trade.category.lower(),
        rating=data.get("rating", ""),
        review_count=data.get("review_count", ""),
    )


def _pipeline_fields(lead: Lead, plan: LeadPlan, rng: random.Random) -> None:
    """Enrichment and first-line state: done for most, pending or failed for some new ones."""
    roll = rng.random()
    fresh = plan.outcome == S.NEW
    if fresh and roll < 0.4:
        lead.enrichment_status = Lead.PipelineStatus.PENDING
        return
    if fresh and roll < 0.5:
        lead.enrichment_status = Lead.PipelineStatus.FAILED
        lead.enrichment_attempts = 3
        lead.enrichment_error = "SerpAPI request timed out after 10s (3 attempts)"
        return
    if roll > 0.96:
        lead.enrichment_status = Lead.PipelineStatus.NOT_FOUND
        lead.enrichment_attempts = 1
        lead.enrichment_error = "No Google Maps match for this name and phone"
        data: dict = {}
    else:
        data = _enrichment(lead, plan.trade, plan.city, rng)
        lead.enrichment_status = Lead.PipelineStatus.DONE
        lead.enrichment_attempts = 1
        lead.enrichment_data = data
        lead.time_zone_source = "coordinates"
    lead.first_line = _first_line(lead, plan.trade, plan.city, data, rng)
    lead.first_line_status = Lead.PipelineStatus.DONE
    lead.first_line_source = "template"
    lead.first_line_facts = {
        k: data[k] for k in ("rating", "review_count", "category") if k in data
    } | {"city": plan.city.name}


def demo_leads_build(
    *, batches: list[ImportBatch], reps: list[User], taken_phones: Iterable[str],
    rng: random.Random,
) -> list[LeadPlan]:
    """Unsaved leads for every batch, each with the status it should end at."""
    outcomes = [(batch, status) for batch, spec in zip(batches, BATCH_SPECS, strict=True)
                for status, n in spec.outcomes.items() for _ in range(n)]
    cities = _city_slots(len(outcomes), rng)
    phones = PhonePool(rng, taken_phones)
    plans: list[LeadPlan] = []
    rows_by_batch: dict[int, int] = {}
    for (batch, outcome), city in zip(outcomes, cities, strict=True):
        trade = rng.choice(TRADES)
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        name = _business_name(trade, city, last, rng)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:24]
        has_email = rng.random() < 0.55
        rows_by_batch[batch.pk] = row = rows_by_batch.get(batch.pk, 1) + 1
        lead = Lead(
            business_name=name,
            contact_first_name=first if rng.random() < 0.85 else "",
            contact_last_name=last if rng.random() < 0.7 else "",
            phone=phones.take(city),
            email=f"{slug}@{rng.choice(EMAIL_DOMAINS)}" if has_email else "",
            # They are selling websites: most leads have none, a few only a social page.
            website=f"https://facebook.com/{slug}" if rng.random() < 0.15 else "",
            address=f"{rng.randint(100, 9899)} {rng.choice(STREETS)}",
            city=city.name,
            state=city.state,
            postcode=rng.choice(city.postcodes),
            country="US",
            category=trade.category,
            source_batch=batch,
            latitude=Decimal(f"{city.latitude + rng.uniform(-0.08, 0.08):.6f}"),
            longitude=Decimal(f"{city.longitude + rng.uniform(-0.08, 0.08):.6f}"),
            time_zone=city.time_zone,
            time_zone_source="area_code",
            consent_source=batch.consent_source,
            status=outcome,
        )
        # A few leads wait for an admin to hand them out, mostly the newest ones.
        if rng.random() < {S.NEW: 0.15, S.CONTACTED: 0.03, S.LOST: 0.03}.get(outcome, 0):
            rep = None
        else:
            rep = rng.choice(reps)
        lead.assigned_rep = rep
        plan = LeadPlan(lead=lead, city=city, trade=trade, batch=batch, row=row,
                        outcome=outcome, rep=rep)
        plan.hot = outcome in (S.ENGAGED, S.REPLIED, S.NEGOTIATING, S.PAID) and rng.random() < {
            S.ENGAGED: 0.3, S.REPLIED: 0.5, S.NEGOTIATING: 0.75, S.PAID: 0.8,
        }[outcome]
        _pipeline_fields(lead, plan, rng)
        plans.append(plan)
    return plans

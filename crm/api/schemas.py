"""What the API reads and answers, as typed schemas (the OpenAPI document is built from them)."""

from datetime import datetime

from ninja import Field, Schema

from crm.models import ImportBatch, Lead


class LeadOut(Schema):
    id: int
    business_name: str
    contact_first_name: str
    contact_last_name: str
    phone: str
    email: str
    website: str
    category: str
    address: str
    city: str
    state: str
    postcode: str
    country: str
    status: str
    priority: str
    assigned_rep_id: int | None
    first_line: str
    enrichment_status: str
    notes: str
    created_at: datetime
    updated_at: datetime


LEAD_OUT_FIELDS = tuple(LeadOut.model_fields)


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class LeadIn(Schema):
    """A lead as a person would type it; checked, normalised and de-duplicated as an import row."""

    business_name: str = Field(..., max_length=255)
    phone: str = Field(..., max_length=40)
    contact_first_name: str = Field("", max_length=100)
    contact_last_name: str = Field("", max_length=100)
    email: str = Field("", max_length=254)
    website: str = Field("", max_length=255)
    category: str = Field("", max_length=100)
    address: str = Field("", max_length=255)
    city: str = Field("", max_length=100)
    state: str = Field("", max_length=50)
    postcode: str = Field("", max_length=20)
    country: str = Field("", max_length=2)
    status: Lead.Status | None = None
    priority: Lead.Priority | None = None
    assigned_rep_id: int | None = None
    notes: str = Field("", max_length=5000)
    first_line: str = Field("", max_length=320)
    consent_source: str = Field("", max_length=200)


class LeadPatch(Schema):
    """Only the fields sent change. `assigned_rep_id: null` unassigns (admins only)."""

    status: Lead.Status | None = None
    priority: Lead.Priority | None = None
    assigned_rep_id: int | None = None


class ImportOut(Schema):
    id: int
    status: ImportBatch.Status
    original_name: str
    total_rows: int
    processed_rows: int
    created_count: int
    updated_count: int
    skipped_count: int
    duplicate_count: int
    error_count: int
    error_message: str
    created_at: datetime
    finished_at: datetime | None


class MessageOut(Schema):
    id: int
    lead_id: int
    direction: str
    body: str
    status: str
    from_number: str
    to_number: str
    error_code: str
    error_message: str
    created_at: datetime


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None = None


class MessageIn(Schema):
    body: str = Field(..., max_length=5000)


class MovementOut(Schema):
    month: datetime
    new_cents: int
    expansion_cents: int
    contraction_cents: int
    churn_cents: int
    reactivation_cents: int
    net_cents: int
    mrr_end_cents: int


class RevenueOut(Schema):
    currency: str
    mrr_cents: int
    arr_cents: int
    movements: list[MovementOut]


class NotificationOut(Schema):
    id: int
    kind: str
    text: str
    lead_id: int | None
    read_at: datetime | None
    created_at: datetime


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None = None


class MarkedOut(Schema):
    marked: int

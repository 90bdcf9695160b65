"""PostgreSQL fast path for creating imported leads and their timeline entries.

The file's values (a dozen columns) are COPYed into a staging table; one statement then
inserts the leads, every other column from the model's defaults given once per chunk,
with ON CONFLICT (phone) DO NOTHING, and an "imported" timeline entry for each lead it
inserted. A phone that another writer inserted meanwhile is skipped by the database, not
by a race-prone check, and reported back.
"""

from django.db import connection
from django.utils import timezone

from crm.models import Lead, TimelineEvent
from crm.models.leads import new_preview_token

# The lead fields an import row can fill (crm.services.imports.rows.clean_row); the rest are defaults.
ROW_FIELDS = ("business_name", "contact_first_name", "contact_last_name", "phone", "email", "website",
              "address", "city", "state", "postcode", "country", "category")
STAGE = "crm_lead_import_stage_v2"


def _stage_create(cursor) -> None:
    columns = ", ".join(Lead._meta.get_field(name).column for name in (*ROW_FIELDS, "preview_token"))
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "
                   f"SELECT 0::integer AS row_number, {columns} FROM {Lead._meta.db_table} WITH NO DATA")


def _constant_columns(extra: dict) -> tuple[list[str], list[str], list]:
    """(columns, '%s::type' placeholders, values) for every lead column not read from the file."""
    columns, placeholders, values = [], [], []
    for field in Lead._meta.concrete_fields:
        if field.primary_key or field.name in ROW_FIELDS or field.name == "preview_token":
            continue
        value = extra[field.attname] if field.attname in extra else field.get_default()
        columns.append(field.column)
        placeholders.append(f"%s::{field.cast_db_type(connection)}")
        values.append(field.get_db_prep_save(value, connection))
    return columns, placeholders, values


def copy_create_leads(*, rows: list[tuple[int, dict]], extra: dict, actor_id: int | None,
                      event_data: dict) -> tuple[int, set[str]]:
    """Insert one lead per (row number, field values), `extra` giving values for all of them,
    each with an "imported" timeline entry whose data is `event_data` plus its row.

    Returns (leads inserted, phones not inserted because a lead already had them). Call it
    inside a transaction: the staging table empties itself at commit.
    """
    now = timezone.now()
    extra = {**extra, "created_at": now, "updated_at": now}
    row_columns = [Lead._meta.get_field(name).column for name in ROW_FIELDS]
    constant_columns, placeholders, constants = _constant_columns(extra)
    defaults = {name: Lead._meta.get_field(name).get_default() for name in ROW_FIELDS}
    lead_table, event_table = Lead._meta.db_table, TimelineEvent._meta.db_table
    staged = ", ".join(f"s.{c}" for c in (*row_columns, "preview_token"))
    with connection.cursor() as cursor:
        # This chunk's commit need not wait for its WAL to reach disk: the batch's result, written
        # after the last chunk with a normal commit, flushes all of it, and a crash before that
        # loses at most the tail of the chunks, in order, with the progress that counted them.
        cursor.execute("SET LOCAL synchronous_commit = off")
        _stage_create(cursor)
        with cursor.cursor.copy(
            f"COPY {STAGE} (row_number, {', '.join(row_columns)}, preview_token) FROM STDIN"
        ) as copy:
            for row_number, data in rows:
                copy.write_row([row_number, *[data.get(name, defaults[name]) for name in ROW_FIELDS],
                                new_preview_token()])
        cursor.execute(
            f"""
            WITH inserted AS (
                INSERT INTO {lead_table} ({', '.join(row_columns)}, preview_token, {', '.join(constant_columns)})
                SELECT {staged}, {', '.join(placeholders)} FROM {STAGE} s ORDER BY s.row_number
                ON CONFLICT (phone) DO NOTHING
                RETURNING id, phone
            ), events AS (
                INSERT INTO {event_table} (lead_id, kind, actor_id, data, created_at)
                SELECT i.id, %s, %s::bigint, %s::jsonb || jsonb_build_object('row', s.row_number), %s
                FROM inserted i JOIN {STAGE} s ON s.phone = i.phone
            )
            SELECT (SELECT count(*) FROM inserted),
                   ARRAY(SELECT s.phone FROM {STAGE} s WHERE NOT EXISTS (
                       SELECT 1 FROM inserted i WHERE i.phone = s.phone))
            """,
            [*constants, TimelineEvent.Kind.IMPORTED, actor_id,
             TimelineEvent._meta.get_field("data").get_db_prep_save(event_data, connection), now],
        )
        inserted, taken = cursor.fetchone()
        cursor.execute(f"TRUNCATE {STAGE}")
    return inserted, set(taken)

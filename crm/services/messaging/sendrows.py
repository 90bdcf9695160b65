"""The sender's per-text reads and writes in plain SQL: a handful of short statements per text,
the same on SQLite and PostgreSQL. This is the hot path (bench/sender.py): the ORM's query
building cost more than the database work here. Everything else about texts uses the ORM.
"""

import json
from datetime import timedelta

from django.db import connection

from crm.models import Enrollment, Lead, Message, TimelineEvent
from crm.services.reply_waiting import reply_waiting_answered_sql, text_answers

MESSAGE = connection.ops.quote_name(Message._meta.db_table)
LEAD = connection.ops.quote_name(Lead._meta.db_table)
TIMELINE = connection.ops.quote_name(TimelineEvent._meta.db_table)
ENROLLMENT = connection.ops.quote_name(Enrollment._meta.db_table)
MESSAGE_FIELDS = ["id", "lead_id", "direction", "body", "from_number", "to_number", "sent_by_id", "bulk_send_id",
                  "enrollment_id", "sequence_step_id", "send_at", "created_at", "status", "claimed_at", "provider_sid"]
LEAD_FIELDS = ["id", "business_name", "phone", "status", "priority", "time_zone", "time_zone_source", "state",
               "country", "opted_out_at", "number_flagged_at", "consent_at", "consent_source", "needs_human_at",
               "assigned_rep_id"]
MESSAGE_COLUMNS, LEAD_COLUMNS = ", ".join(MESSAGE_FIELDS), ", ".join(LEAD_FIELDS)


def _at(value):
    return connection.ops.adapt_datetimefield_value(value)


def _one(model, fields: list[str], sql: str, params: list):
    """The first row of `sql` as a `model` instance with only `fields` loaded, or None. (A plain
    cursor: Model.objects.raw() cost twice the query itself here.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    by_name = dict(zip(fields, row))
    if connection.vendor != "postgresql":  # SQLite hands datetimes back as text
        for name, value in by_name.items():
            if value is not None and model._meta.get_field(name).get_internal_type() == "DateTimeField":
                by_name[name] = connection.ops.convert_datetimefield_value(value, None, connection)
    # from_db wants the loaded values in the model's field order.
    names = [f.attname for f in model._meta.concrete_fields if f.attname in by_name]
    return model.from_db(connection.alias, names, [by_name[name] for name in names])


def _for_update() -> str:
    # SQLite has no row locks: its transactions take the database's write lock instead (IMMEDIATE).
    return " FOR UPDATE" if connection.vendor == "postgresql" else ""


def _skip_locked() -> str:
    return " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""


def message_claim_next(*, now) -> Message | None:
    """queued -> sending for the next text whose slot has come; one statement, committed at once."""
    return _one(Message, MESSAGE_FIELDS,
                f"UPDATE {MESSAGE} SET status = %s, claimed_at = %s WHERE id = ("
                f"SELECT id FROM {MESSAGE} WHERE status = %s AND send_at <= %s ORDER BY send_at, id LIMIT 1"
                f"{_skip_locked()}) AND status = %s RETURNING {MESSAGE_COLUMNS}",
                [Message.Status.SENDING, _at(now), Message.Status.QUEUED, _at(now), Message.Status.QUEUED])


def message_claim(*, message_id: int, now) -> Message | None:
    """queued -> sending for this text, or None when another sender has it (or it ended)."""
    return _one(Message, MESSAGE_FIELDS,
                f"UPDATE {MESSAGE} SET status = %s, claimed_at = %s WHERE id = %s AND status = %s "
                f"RETURNING {MESSAGE_COLUMNS}", [Message.Status.SENDING, _at(now), message_id, Message.Status.QUEUED])


def lead_lock(*, lead_id: int) -> Lead:
    """The lead as committed now, its row locked until the transaction ends (inside atomic())."""
    return _one(Lead, LEAD_FIELDS, f"SELECT {LEAD_COLUMNS} FROM {LEAD} WHERE id = %s{_for_update()}", [lead_id])


def _message_sent(message_id: int, sid: str, status: str, error_code: str, now) -> tuple[str, list]:
    delivered = _at(now) if status == Message.Status.DELIVERED else None
    return (f"UPDATE {MESSAGE} SET provider_sid = %s, status = %s, error_code = %s, error_message = '', "
            f"sent_at = %s, delivered_at = %s WHERE id = %s", [sid, status, error_code, _at(now), delivered, message_id])


def _lead_contacted(lead_id: int, now, answer_id: int | None) -> tuple[str, list]:
    """Last contacted now; a NEW lead becomes CONTACTED; `answer_id`: the text answers a reply
    that came in before it was written (crm.services.reply_waiting's rule, in this statement)."""
    answered, params = "", [_at(now), Lead.Status.NEW, Lead.Status.CONTACTED]
    if answer_id is not None:
        answered = ", " + reply_waiting_answered_sql(written_at=f"(SELECT created_at FROM {MESSAGE} WHERE id = %s)")
        params.append(answer_id)
    return (f"UPDATE {LEAD} SET last_contacted_at = %s, status = CASE WHEN status = %s THEN %s ELSE status END"
            f"{answered} WHERE id = %s", [*params, lead_id])


def _timeline(lead_id: int, kind: str, actor_id: int | None, data: dict, now) -> tuple[str, list]:
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    return (f"INSERT INTO {TIMELINE} (lead_id, kind, actor_id, data, created_at) VALUES (%s, %s, %s, %s{cast}, %s)",
            [lead_id, kind, actor_id, json.dumps(data), _at(now)])


def _enrollment_move(enrollment_id: int, step_id: int, following, now) -> tuple[str, list]:
    """To the step after `step_id` (or completed after the last), only if still on `step_id`."""
    next_run_at = None if following is None else now + timedelta(days=following.delay_days,
                                                                  hours=following.delay_hours)
    last = following is None
    return (f"UPDATE {ENROLLMENT} SET next_step_id = %s, next_run_at = %s, "
            f"status = CASE WHEN %s AND status = %s THEN %s ELSE status END, "
            f"stopped_at = CASE WHEN %s AND status = %s THEN %s ELSE stopped_at END "
            f"WHERE id = %s AND next_step_id = %s",
            [following.pk if following else None, _at(next_run_at), last, Enrollment.Status.ACTIVE,
             Enrollment.Status.COMPLETED, last, Enrollment.Status.ACTIVE, _at(now), enrollment_id, step_id])


def enrollment_move_on(*, enrollment_id: int, step_id: int, following, now) -> bool:
    """Move the enrolment past `step_id` (see _enrollment_move); True if it moved."""
    sql, params = _enrollment_move(enrollment_id, step_id, following, now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def sent_record(*, message_id: int, sid: str, status: str, error_code: str, lead_id: int, actor_id: int | None,
                timeline: dict, move: tuple | None, now) -> None:
    """Everything a sent text writes: its SID and `status` (unless `sid` is None: already written;
    `status` says what it is), the lead contacted (and a reply before the text answered, when the
    status is an answer), the "Text sent" event, and `move` = (enrollment id, step id, following
    step) for a sequence step. One statement on PostgreSQL (writes in a WITH), four on SQLite."""
    answer_id = message_id if text_answers(status) else None
    parts = [_lead_contacted(lead_id, now, answer_id), _timeline(lead_id, "message_out", actor_id, timeline, now)]
    if sid is not None:
        parts.insert(0, _message_sent(message_id, sid, status, error_code, now))
    if move is not None:
        parts.append(_enrollment_move(*move, now))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            head, (last_sql, _) = parts[:-1], parts[-1]
            ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(head))
            cursor.execute(f"WITH {ctes} {last_sql}", [p for _, params in parts for p in params])
        else:
            for sql, params in parts:
                cursor.execute(sql, params)

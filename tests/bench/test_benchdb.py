"""benchdb.insert_select: a raw-SQL loader gives every NOT NULL column, whatever a later
migration adds, or says which one it cannot."""

import importlib.util
from pathlib import Path

import pytest
from django.db import connection, models

from crm.models import Lead

BENCHDB = Path(__file__).resolve().parents[2] / "bench" / "benchdb.py"
spec = importlib.util.spec_from_file_location("benchdb", BENCHDB)
benchdb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchdb)

GIVEN = {"business_name": "'Bench ' || i", "phone": "'+1512200000' || i", "preview_token": "'token-' || i"}


def _columns(sql: str) -> list[str]:
    return sql.split("(", 1)[1].split(")", 1)[0].split(", ")


def test_every_not_null_column_is_given_a_value():
    sql = benchdb.insert_select(Lead, GIVEN, "FROM generate_series(1, 3) AS i")

    not_null = {f.column for f in Lead._meta.concrete_fields if not f.null and not f.primary_key}
    assert not_null <= set(_columns(sql))
    assert "now()" in sql  # created_at and updated_at, which Django fills in Python


def test_a_column_it_cannot_fill_is_named():
    with pytest.raises(ValueError, match="must give crm_lead.preview_token"):
        benchdb.insert_select(Lead, {"business_name": "'x'", "phone": "'+15122000000'"}, "")
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        benchdb.insert_select(Lead, {**GIVEN, "nope": "1"}, "")


@pytest.mark.django_db
def test_the_rows_it_loads_have_the_models_defaults():
    source = ("FROM generate_series(1, 3) AS i" if connection.vendor == "postgresql"
              else "FROM (SELECT 1 AS i UNION ALL SELECT 2 UNION ALL SELECT 3)")
    sql = benchdb.insert_select(Lead, GIVEN, source)
    if connection.vendor != "postgresql":
        # The loaders run on PostgreSQL; in SQLite's words: JSON as text, CURRENT_TIMESTAMP.
        sql = sql.replace("::jsonb", "").replace("now()", "CURRENT_TIMESTAMP")
    with connection.cursor() as cursor:
        cursor.execute(sql)

    lead = Lead.objects.get(phone="+15122000002")
    assert (lead.business_name, lead.status, lead.country, lead.enrichment_data, lead.preview_views) == (
        "Bench 2", Lead.Status.NEW, "US", {}, 0)
    assert Lead.objects.count() == 3
    assert isinstance(Lead._meta.get_field("enrichment_data"), models.JSONField)

"""The lead list at a million leads: an index for sorting by engagement score and a trigram
index for the search box (crm.selectors.lead_search: words of the name, email or city); and
three indexes no query uses dropped, since every imported lead pays for each one: the
assigned rep's and the timeline's lead's own (the composite indexes start with them) and the
preview token's LIKE index (the token is unique by a constraint instead)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import crm.models.leads

# The search box's text, as crm.selectors.lead_search.SEARCH_TEXT writes it (tests pin that
# its queries use this index).
SEARCH_INDEX = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_search_trgm ON crm_lead "
                "USING gin (UPPER(business_name || ' ' || email || ' ' || city) gin_trgm_ops)")


def search_index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite scans: fine at a development database's size
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(SEARCH_INDEX)  # concurrently: writes to leads go on meanwhile


def search_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS lead_search_trgm")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("crm", "0012_timeline_lead_edits"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="lead",
            name="assigned_rep",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL, related_name="leads",
                                    to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="lead",
            name="preview_token",
            field=models.CharField(default=crm.models.leads.new_preview_token, editable=False, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.UniqueConstraint(fields=("preview_token",), name="lead_preview_token_unique"),
        ),
        migrations.AlterField(
            model_name="timelineevent",
            name="lead",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="timeline", to="crm.lead"),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(fields=["-engagement_score", "-id"], name="lead_engagement"),
        ),
        migrations.RunPython(search_index_create, search_index_drop),
    ]

"""The dashboard at a million leads (issue 13): pre-counted activity (crm/models/reporting.py) and
what keeps it exact, and two lead indexes its live counts read.

- ActivityCount, RollupSource, RollupLeadMove: see crm/models/reporting.py.
- Triggers (PostgreSQL and SQLite alike; only these three facts, nothing else):
  * a DELETE on crm_lead, crm_message or crm_previewevent that removes a counted row (id <= the
    source's watermark) marks that source dirty: the reader counts it live and the next refresh
    rebuilds it. On PostgreSQL the trigger first waits for a refresh in progress (the refresh
    holds the RollupSource table EXCLUSIVE), so the watermark it compares with is the committed one.
  * an UPDATE that changes crm_lead.assigned_rep_id logs the lead and its previous rep
    (RollupLeadMove): a plain insert, no lock, nothing when the rep stays the same.
  SQLite drops a table's triggers when Django rebuilds the table for an ALTER; the test
  tests/crm/services/test_rollups.py checks they exist at the end of the migration chain.
- PostgreSQL only, built concurrently (writes go on): activity_count_read, the counts of a range
  of slots read from the index alone (SQLite has no INCLUDE); lead_status_created (status, created_at)
  INCLUDE (assigned_rep_id), the funnel of the leads created in a range, for the team or one rep,
  from the index alone; lead_rep_contacted (assigned_rep_id, last_contacted_at) and
  lead_rep_hot_at (assigned_rep_id, hot_at), a rep's "contacted" and "turned hot" counts;
  lead_rep_call_first, a rep's hot then warm leads newest alert first (their dashboard's "call
  these first", read in index order and stopped at ten). SQLite scans: fine at a development
  database's size.
"""

from django.db import migrations, models

SOURCES = (("crm_lead", "leads"), ("crm_message", "messages"), ("crm_previewevent", "previews"))

POSTGRES_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION crm_rollup_lead_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO crm_rollupleadmove (lead_id, from_rep_id) VALUES (OLD.id, COALESCE(OLD.assigned_rep_id, 0));
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION crm_rollup_rows_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        LOCK TABLE crm_rollupsource IN ROW EXCLUSIVE MODE;
        UPDATE crm_rollupsource SET dirty = TRUE
         WHERE name = TG_ARGV[0] AND NOT dirty AND EXISTS (SELECT 1 FROM deleted_rows d WHERE d.id <= watermark);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_rollup_lead_moved AFTER UPDATE OF assigned_rep_id ON crm_lead
    FOR EACH ROW WHEN (OLD.assigned_rep_id IS DISTINCT FROM NEW.assigned_rep_id)
    EXECUTE FUNCTION crm_rollup_lead_moved()""",
    *(f"""CREATE TRIGGER crm_rollup_deleted AFTER DELETE ON {table} REFERENCING OLD TABLE AS deleted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_rows_deleted('{source}')""" for table, source in SOURCES),
]
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS crm_rollup_lead_moved AFTER UPDATE OF assigned_rep_id ON crm_lead
    FOR EACH ROW WHEN OLD.assigned_rep_id IS NOT NEW.assigned_rep_id
    BEGIN
        INSERT INTO crm_rollupleadmove (lead_id, from_rep_id) VALUES (OLD.id, COALESCE(OLD.assigned_rep_id, 0));
    END""",
    *(f"""CREATE TRIGGER IF NOT EXISTS crm_rollup_{source}_deleted AFTER DELETE ON {table}
    FOR EACH ROW WHEN OLD.id <= (SELECT watermark FROM crm_rollupsource WHERE name = '{source}')
    BEGIN
        UPDATE crm_rollupsource SET dirty = 1 WHERE name = '{source}';
    END""" for table, source in SOURCES),
]
POSTGRES_INDEXES = {
    "activity_count_read": "ON crm_activitycount (metric, rep_id, slot) INCLUDE (rows)",
    "lead_status_created": "ON crm_lead (status, created_at) INCLUDE (assigned_rep_id)",
    "lead_rep_contacted": "ON crm_lead (assigned_rep_id, last_contacted_at)",
    "lead_rep_hot_at": "ON crm_lead (assigned_rep_id, hot_at)",
    "lead_rep_call_first": "ON crm_lead (assigned_rep_id, priority, hot_at DESC NULLS LAST, id DESC) "
                           "WHERE priority IN ('HOT', 'WARM')",
}


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_FUNCTIONS:
            schema_editor.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS crm_rollup_lead_moved ON crm_lead")
        for table, _ in SOURCES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS crm_rollup_deleted ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS crm_rollup_lead_moved(), crm_rollup_rows_deleted()")
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS crm_rollup_lead_moved")
        for _, source in SOURCES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS crm_rollup_{source}_deleted")


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in POSTGRES_INDEXES.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRES_INDEXES:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("crm", "0018_queue_waiting")]

    operations = [
        migrations.CreateModel(
            name="RollupSource",
            fields=[
                ("name", models.CharField(choices=[("leads", "Leads"), ("messages", "Texts"),
                                                   ("previews", "Preview events")],
                                          max_length=10, primary_key=True, serialize=False)),
                ("watermark", models.BigIntegerField(default=0, help_text="Rows with id <= this are counted.")),
                ("dirty", models.BooleanField(default=False,
                                              help_text="A counted row was deleted: rebuild before use.")),
                ("version", models.BigIntegerField(default=0)),
                ("candidate_id", models.BigIntegerField(default=0)),
                ("candidate_at", models.DateTimeField(blank=True, null=True)),
                ("refreshed_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="ActivityCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("metric", models.CharField(choices=[("lead_new", "Leads created"),
                                                     ("text_out", "Texts out (any status)"),
                                                     ("text_in", "Texts in"), ("view", "Preview views")],
                                            max_length=10)),
                ("rep_id", models.IntegerField()),
                ("slot", models.IntegerField(help_text="UTC epoch seconds // SLOT_SECONDS of the rows' created_at")),
                ("rows", models.IntegerField()),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("metric", "rep_id", "slot"),
                                                        name="activity_count_key")],
            },
        ),
        migrations.CreateModel(
            name="RollupLeadMove",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("lead_id", models.BigIntegerField()),
                ("from_rep_id", models.IntegerField()),
            ],
            options={"indexes": [models.Index(fields=["lead_id", "id"], name="rollup_move_lead")]},
        ),
        migrations.RunPython(triggers_create, triggers_drop),
        migrations.RunPython(indexes_create, indexes_drop),
    ]

"""The rep's "replies" number reads the leads that texted in the period instead of every text
(crm/selectors/rep_numbers.py):

- Lead.last_reply_at: the newest text from the lead, with the partial index lead_rep_replied
  (assigned_rep, last_reply_at, id) the number starts from;
- message_lead_in: a lead's texts in by time (partial, inbound only), probed once per lead.

Then the reply facts are rebuilt from the texts and calls stored, by the function the live code
keeps them with (crm.services.reply_waiting): last_reply_at is filled, and awaiting_reply_since
follows the rule as it now reads (an undelivered text is no answer). Plain UPDATEs that run on
SQLite and PostgreSQL alike; then, on PostgreSQL, ANALYZE crm_lead."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    from crm.services.reply_waiting import reply_waiting_backfill

    lead, message, call = (apps.get_model("crm", name) for name in ("Lead", "Message", "Call"))
    reply_waiting_backfill(lead_model=lead, message_model=message, call_model=call)
    if schema_editor.connection.vendor == "postgresql":
        # Statistics for the new column now: a few percent of the leads changed, too few for
        # autovacuum to analyze soon, and without them the planner reads a third of the rep's
        # leads into lead_rep_replied's range.
        schema_editor.execute("ANALYZE crm_lead")


class Migration(migrations.Migration):
    dependencies = [("crm", "0021_api_speed")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="last_reply_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(condition=models.Q(("last_reply_at__isnull", False)),
                               fields=["assigned_rep", "last_reply_at", "id"], name="lead_rep_replied"),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(condition=models.Q(("direction", "in")), fields=["lead", "created_at"],
                               name="message_lead_in"),
        ),
        # Last: on PostgreSQL no ALTER of crm_lead may follow its UPDATEs in this transaction.
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

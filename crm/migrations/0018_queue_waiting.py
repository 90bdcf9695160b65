"""The rep's queue reads stored facts instead of texts and calls (issue 12, the queue's speed):

- Lead.awaiting_reply_since: the newest text from the lead while it waits for an answer, with
  the partial index lead_rep_awaiting the queue's "Reply waiting" bucket reads;
- Lead.next_action_is_callback: the planned next action is a callback the lead asked for.

Both are backfilled here from the texts and calls already stored, by the same functions the
live code keeps them with (crm.services.reply_waiting, crm.services.next_actions), on the
historical models: plain UPDATEs that run on SQLite and PostgreSQL alike."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    from crm.services.next_actions import next_action_callback_backfill
    from crm.services.reply_waiting import reply_waiting_backfill

    lead, message, call = (apps.get_model("crm", name) for name in ("Lead", "Message", "Call"))
    reply_waiting_backfill(lead_model=lead, message_model=message, call_model=call)
    next_action_callback_backfill(lead_model=lead, call_model=call)


class Migration(migrations.Migration):
    dependencies = [("crm", "0017_dashboard_indexes")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="awaiting_reply_since",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="next_action_is_callback",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(condition=models.Q(("awaiting_reply_since__isnull", False)),
                               fields=["assigned_rep", "awaiting_reply_since"], name="lead_rep_awaiting"),
        ),
        # Last: on PostgreSQL no ALTER of crm_lead may follow its UPDATEs in this transaction.
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

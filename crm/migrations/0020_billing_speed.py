"""Billing reads that stay fast as payments pile up (issue 11, the Revenue page's speed)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "0019_dashboard_rollups")]

    operations = [
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(condition=models.Q(("status", "failed")), fields=["client", "occurred_at"],
                               name="transaction_failed"),
        ),
    ]

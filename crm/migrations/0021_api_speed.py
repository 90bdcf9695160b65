from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "0020_billing_speed")]

    operations = [
        # Idempotency keys expire (API_IDEMPOTENCY_HOURS); the scheduled purge deletes them by age.
        migrations.AddIndex(
            model_name="apiidempotencykey",
            index=models.Index(fields=["created_at"], name="api_idempotency_created"),
        ),
    ]

"""Timeline kinds for leads typed into the admin: added by hand, details edited, consent changed."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0011_bulk_send_permissions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='timelineevent',
            name='kind',
            field=models.CharField(choices=[('imported', 'Imported'), ('enriched', 'Enriched'), ('personalised', 'First line written'), ('enrolled', 'Enrolled in sequence'), ('sequence_stopped', 'Sequence stopped'), ('message_out', 'Text sent'), ('message_in', 'Text received'), ('preview_view', 'Preview viewed'), ('cta_click', 'Preview button clicked'), ('hot', 'Became hot'), ('call', 'Call'), ('note', 'Note'), ('status_change', 'Status changed'), ('assigned', 'Assigned'), ('checkout_sent', 'Checkout link sent'), ('payment', 'Payment'), ('opt_out', 'Opted out'), ('opt_in', 'Opted back in'), ('added', 'Added by hand'), ('edited', 'Details edited'), ('consent_changed', 'Consent changed')], max_length=20),
        ),
    ]

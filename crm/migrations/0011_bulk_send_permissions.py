"""ADMIN gets the permissions of the models added since the groups were made (bulk sends, worker
leases); a REP may view the bulk sends they started."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_APPS = ["crm", "auth", "django_q", "admin"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name="ADMIN").first()
    if admin is not None:
        admin.permissions.add(*Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    rep = Group.objects.filter(name="REP").first()
    if rep is not None:
        rep.permissions.add(*Permission.objects.filter(content_type__app_label="crm", codename="view_bulksend"))


class Migration(migrations.Migration):
    dependencies = [("crm", "0010_send_engine")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

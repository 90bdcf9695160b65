"""Create the ADMIN and REP groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_APPS = ["crm", "auth", "django_q", "admin"]
# A rep works their own leads; row-level scoping is enforced by the admin querysets.
REP_PERMISSIONS = {
    "lead": ["view", "change"],
    "timelineevent": ["view", "add"],
    "message": ["view", "add"],
    "call": ["view", "add", "change"],
    "previewevent": ["view"],
    "notification": ["view", "change"],
    "commission": ["view"],
}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    admin, _ = Group.objects.get_or_create(name="ADMIN")
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))

    rep, _ = Group.objects.get_or_create(name="REP")
    codenames = [
        f"{action}_{model}" for model, actions in REP_PERMISSIONS.items() for action in actions
    ]
    rep.permissions.set(
        Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
    )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["ADMIN", "REP"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]

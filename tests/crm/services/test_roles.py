"""The role groups are put right after every migrate and flush (a flush empties them)."""

import pytest
from django.contrib.auth.models import Group

from crm.services.roles import REP_PERMISSIONS, roles_sync

pytestmark = pytest.mark.django_db


def test_sync_recreates_the_groups_with_exactly_their_permissions():
    Group.objects.all().delete()
    roles_sync()
    roles_sync()  # idempotent
    rep = set(Group.objects.get(name="REP").permissions.values_list("codename", flat=True))
    assert rep == {f"{action}_{model}" for model, actions in REP_PERMISSIONS.items() for action in actions}
    admin = set(Group.objects.get(name="ADMIN").permissions.values_list("codename", flat=True))
    assert {"change_companysettings", "view_bulksend", "delete_lead", "view_schedule"} <= admin


def test_a_flush_keeps_the_roles(django_db_blocker):
    from django.core.management import call_command

    call_command("flush", "--noinput", verbosity=0)
    assert Group.objects.get(name="REP").permissions.filter(codename="view_lead").exists()

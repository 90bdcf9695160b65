import pytest
from django.core.management import call_command
from django_q.models import Schedule

from crm.services.schedules import SCHEDULES, schedules_missing, schedules_sync

pytestmark = pytest.mark.django_db


def test_sync_creates_then_changes_nothing_then_repairs():
    assert schedules_missing() == list(SCHEDULES)
    assert set(schedules_sync().values()) == {"created"}
    assert set(schedules_sync().values()) == {"unchanged"}
    Schedule.objects.filter(name="hot-leads-sweep").update(minutes=15)
    assert schedules_sync() == {name: "updated" if name == "hot-leads-sweep" else "unchanged" for name in SCHEDULES}
    assert Schedule.objects.get(name="hot-leads-sweep").minutes == 1
    assert Schedule.objects.count() == len(SCHEDULES)
    assert schedules_missing() == []


def test_command_prints_each_schedule(capsys):
    call_command("sync_schedules")
    assert "hot-leads-sweep: created" in capsys.readouterr().out

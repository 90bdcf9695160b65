"""The scheduled refresh of the dashboard's pre-counted activity, as the worker runs it."""

import pytest

from crm.models import RollupSource
from crm.services.schedules import SCHEDULES
from crm.tasks.rollups import rollups_refresh_task
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_the_task_counts_what_is_new_then_nothing_and_runs_every_minute():
    texts = MessageFactory.create_batch(3)
    first = rollups_refresh_task()
    assert first["messages"] == f"started again; counted 3 rows up to id {texts[-1].pk}"
    assert set(rollups_refresh_task().values()) == {"unchanged"}
    assert RollupSource.objects.get(name="messages").watermark == texts[-1].pk
    assert SCHEDULES["dashboard-rollups"] == ("crm.tasks.rollups.rollups_refresh_task", 1)

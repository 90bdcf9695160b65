"""A bulk send's progress, by status in the order a text moves, in one query."""

import pytest

from crm.selectors.messaging import bulk_send_progress
from tests.factories import BulkSendFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_progress_by_status(django_assert_num_queries):
    bulk = BulkSendFactory()
    for status in ("queued", "sent", "sent", "delivered", "failed"):
        MessageFactory(bulk_send=bulk, status=status)
    MessageFactory(status="sent")  # another send's
    with django_assert_num_queries(1):
        assert list(bulk_send_progress(bulk_send=bulk).items()) == [
            ("queued", 1), ("sent", 2), ("delivered", 1), ("failed", 1)]

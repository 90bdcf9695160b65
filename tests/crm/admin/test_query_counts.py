"""Pages that run per visit or per poll have their queries pinned, whatever the data size."""

import pytest
from django.urls import reverse

from tests.factories import LeadFactory, MessageTemplateFactory, NotificationFactory

pytestmark = pytest.mark.django_db


def _queries(client, url, django_assert_max_num_queries, most):
    with django_assert_max_num_queries(most):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("rows", [1, 20])
def test_the_admin_index(admin_client, rows, django_assert_max_num_queries):
    for _ in range(rows):
        LeadFactory(priority="HOT")
    _queries(admin_client, reverse("admin:index"), django_assert_max_num_queries, 16)


@pytest.mark.parametrize("rows", [1, 20])
def test_the_unread_notifications_poll(admin_client, admin_user, rows, django_assert_max_num_queries):
    for _ in range(rows):
        NotificationFactory(recipient=admin_user)
    _queries(admin_client, reverse("admin:crm_notification_unread"), django_assert_max_num_queries, 4)


@pytest.mark.parametrize("rows", [1, 20])
def test_the_message_templates_list(admin_client, rows, django_assert_max_num_queries):
    for i in range(rows):
        MessageTemplateFactory(body=f"Hi {{business_name}} {i}")
    _queries(admin_client, reverse("admin:crm_messagetemplate_changelist"), django_assert_max_num_queries, 10)

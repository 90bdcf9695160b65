"""The one access map: admins see every row, reps their own, anonymous users nothing, and a
model the map does not name is invisible to reps."""

import pytest
from django.contrib.auth.models import AnonymousUser

from crm.models import Lead, Message, WebhookEvent
from crm.selectors.access import scope_queryset
from tests.factories import AdminUserFactory, LeadFactory, MessageFactory, RepUserFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db


def test_scope_by_role():
    admin, rep, other = AdminUserFactory(), RepUserFactory(), RepUserFactory()
    mine, theirs = LeadFactory(assigned_rep=rep), LeadFactory(assigned_rep=other)
    MessageFactory(lead=mine)
    MessageFactory(lead=theirs)
    WebhookEventFactory()
    assert set(scope_queryset(Lead.objects.all(), admin)) == {mine, theirs}
    assert list(scope_queryset(Lead.objects.all(), rep)) == [mine]
    assert [m.lead for m in scope_queryset(Message.objects.all(), rep)] == [mine]
    assert not scope_queryset(WebhookEvent.objects.all(), rep).exists()
    assert not scope_queryset(Lead.objects.all(), AnonymousUser()).exists()

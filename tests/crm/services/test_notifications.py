"""Who hears about a lead is decided in one place (crm/services/notifications.py): the lead's
active rep, else every active admin. Replies, hot leads and failed sends all ask it."""

import pytest

from crm.models import Notification
from crm.services.notifications import notification_recipients, notify
from tests.factories import AdminUserFactory, LeadFactory, RepUserFactory

pytestmark = pytest.mark.django_db


def test_the_rep_else_every_active_admin():
    rep, admin, away = RepUserFactory(), AdminUserFactory(), AdminUserFactory(is_active=False)
    assert notification_recipients(LeadFactory(assigned_rep=rep)) == [rep]
    assert notification_recipients(LeadFactory()) == [admin]
    rep.is_active = False
    rep.save()
    assert notification_recipients(LeadFactory(assigned_rep=rep)) == [admin]
    assert away not in notification_recipients(LeadFactory())


def test_every_path_that_tells_someone_asks_the_one_rule(monkeypatch):
    from crm.services import notifications

    asked = []
    real = notifications.notification_recipients
    monkeypatch.setattr(notifications, "notification_recipients", lambda lead: asked.append(lead.pk) or real(lead))
    rep = RepUserFactory()
    lead = LeadFactory(assigned_rep=rep)
    notify(lead=lead, kind="reply", text="replied")
    from crm.services.hot_leads import lead_mark_hot

    lead_mark_hot(lead=lead, trigger="views")
    assert asked == [lead.pk, lead.pk]
    assert Notification.objects.filter(recipient=rep).count() == 2

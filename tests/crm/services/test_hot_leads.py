"""The hot-lead rule: N views in the window, once per episode, notifications, pausing, cooling."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import CompanySettings, Enrollment, Lead, Notification, PreviewEvent, TimelineEvent
from crm.services.hot_leads import hot_leads_sweep, lead_check_hot
from crm.services.previews import preview_event_record
from tests.factories import AdminUserFactory, LeadFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db


def view_at(lead, when):
    event = PreviewEvent.objects.create(lead=lead, kind="view", session_id="s-12345678")
    PreviewEvent.objects.filter(pk=event.pk).update(created_at=when)


def test_third_view_makes_the_lead_hot_and_tells_its_rep(rep_user):
    lead = LeadFactory(assigned_rep=rep_user)
    step = SequenceStepFactory()
    Enrollment.objects.create(lead=lead, sequence=step.sequence, next_step=step)
    results = [preview_event_record(lead=lead, kind="view", session_id="s-12345678").became_hot for _ in range(3)]
    assert results == [False, False, True]
    lead.refresh_from_db()
    assert lead.priority == Lead.Priority.HOT and lead.hot_at
    note = Notification.objects.get(recipient=rep_user, lead=lead)
    assert note.kind == "hot_lead" and "3 view(s)" in note.text
    hot = TimelineEvent.objects.get(lead=lead, kind="hot")
    assert hot.data["views"] == 3 and "view(s) in" in hot.data["text"]
    assert Enrollment.objects.get(lead=lead).status == Enrollment.Status.PAUSED


def test_exactly_at_the_window_edge_counts():
    lead = LeadFactory()
    now = timezone.now()
    view_at(lead, now - timedelta(minutes=10))
    view_at(lead, now - timedelta(minutes=5))
    view_at(lead, now)
    assert lead_check_hot(lead=lead, kind="view", now=now) is True


def test_two_views_then_one_eleven_minutes_later_is_not_hot():
    lead = LeadFactory()
    now = timezone.now()
    view_at(lead, now - timedelta(minutes=11))
    view_at(lead, now - timedelta(minutes=11, seconds=-30))
    view_at(lead, now)
    assert lead_check_hot(lead=lead, kind="view", now=now) is False
    assert Lead.objects.get(pk=lead.pk).priority == Lead.Priority.NORMAL


def test_one_alert_per_episode_and_admins_when_unassigned():
    admin = AdminUserFactory()
    lead = LeadFactory(assigned_rep=None)
    for _ in range(6):
        preview_event_record(lead=lead, kind="view", session_id="s-12345678")
    assert Notification.objects.filter(lead=lead).count() == 1
    assert Notification.objects.get(lead=lead).recipient == admin
    assert TimelineEvent.objects.filter(lead=lead, kind="hot").count() == 1


def test_a_click_is_hot_only_when_the_setting_says_so():
    company = CompanySettings.load()
    company.hot_lead_on_cta_click = False
    company.save()
    lead = LeadFactory()
    assert preview_event_record(lead=lead, kind="cta_click", session_id="s-12345678", target="claim").became_hot is False
    company.hot_lead_on_cta_click = True
    company.save()
    assert preview_event_record(lead=lead, kind="cta_click", session_id="s-12345678", target="claim").became_hot is True
    assert "clicked claim" in TimelineEvent.objects.get(lead=lead, kind="hot").data["text"]


def test_sweep_catches_misses_is_idempotent_and_cools_quiet_leads():
    now = timezone.now()
    missed = LeadFactory()
    for minutes in (1, 2, 3):
        view_at(missed, now - timedelta(minutes=minutes))
    quiet = LeadFactory(priority=Lead.Priority.HOT, hot_at=now - timedelta(days=5),
                        last_viewed_at=now - timedelta(days=3))
    assert hot_leads_sweep(now=now) == {"marked_hot": 1, "cooled": 1}
    assert hot_leads_sweep(now=now) == {"marked_hot": 0, "cooled": 0}
    assert Lead.objects.get(pk=missed.pk).priority == Lead.Priority.HOT
    assert Lead.objects.get(pk=quiet.pk).priority == Lead.Priority.WARM
    # After cooling, a new burst is a new episode with a new alert.
    Lead.objects.filter(pk=missed.pk).update(priority=Lead.Priority.WARM)
    assert hot_leads_sweep(now=now)["marked_hot"] == 1
    assert TimelineEvent.objects.filter(lead=missed, kind="hot").count() == 2


def test_engagement_score_follows_the_formula():
    lead = LeadFactory(inbound_messages=1)
    preview_event_record(lead=lead, kind="view", session_id="s-12345678")
    preview_event_record(lead=lead, kind="cta_click", session_id="s-12345678", target="callback")
    preview_event_record(lead=lead, kind="ping", session_id="s-12345678", seconds=120)
    lead.refresh_from_db()
    # (1*10 + 1*20 + 1*15 + 2 min*5) / 100
    assert lead.engagement_score == pytest.approx(0.55)


def test_one_rule_serves_the_request_the_batch_flush_and_the_sweep(monkeypatch):
    """Every path asks crm.services.hot_leads.hot_rule_leads, the one place the rule is written."""
    from crm.services import hot_leads, preview_queue

    calls = []
    real = hot_leads.hot_rule_leads

    def spy(**kwargs):
        calls.append(kwargs["lead_ids"])
        return real(**kwargs)

    monkeypatch.setattr(hot_leads, "hot_rule_leads", spy)
    lead = LeadFactory()
    preview_event_record(lead=lead, kind="view", session_id="s-12345678")
    assert calls == [{lead.pk}]
    hot_leads_sweep()
    assert calls[-1] is None  # every lead with views in the window
    batches = [[f"{lead.pk}|{{\"kind\": \"view\", \"session\": \"s-12345678\", \"seconds\": 0, "
                f"\"target\": \"\", \"ua\": \"x\", \"ip\": \"\"}}".encode()], []]
    monkeypatch.setattr(preview_queue, "tracking_queue_read", lambda count: batches.pop(0))
    monkeypatch.setattr(preview_queue, "tracking_flush_lock", lambda: True)
    monkeypatch.setattr(preview_queue, "tracking_flush_unlock", lambda: None)
    monkeypatch.setattr(preview_queue, "tracking_queue_length", lambda: 0)
    monkeypatch.setattr(preview_queue, "tracking_queue_trim", lambda count: None)
    preview_queue.preview_events_flush()
    assert {lead.pk} in calls[2:]


def test_the_rule_counts_views_in_the_window_and_clicks_only_when_switched_on():
    from crm.services.hot_leads import hot_rule_leads

    company = CompanySettings.load()
    now = timezone.now()
    viewed, clicker = LeadFactory(), LeadFactory()
    for minutes in (1, 2, 3):
        view_at(viewed, now - timedelta(minutes=minutes))
    view_at(clicker, now - timedelta(minutes=30))
    company.hot_lead_on_cta_click = False
    assert hot_rule_leads(lead_ids=None, clicked={clicker.pk}, now=now, company=company) == {viewed.pk: "views"}
    company.hot_lead_on_cta_click = True
    assert hot_rule_leads(lead_ids={viewed.pk, clicker.pk}, clicked={clicker.pk}, now=now, company=company) == {
        viewed.pk: "views", clicker.pk: "click"}
    assert hot_rule_leads(lead_ids=set(), clicked=set(), now=now, company=company) == {}

"""Smoke test of every registered admin page, plus "every change is logged"."""

import uuid

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Success, Task
from django_q.signing import SignedPackage

from crm import models as m
from tests import factories as f
from tests.crm.admin import admin_url, changeform_post_data

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)

# Admins that forbid "add": system-written records, the settings singleton, and import
# batches (an import starts from the Leads list's Import page).
ADD_FORBIDDEN = {
    m.BulkSend,
    m.CompanySettings,
    m.ImportBatch,
    m.Message,
    m.TimelineEvent,
    m.PreviewEvent,
    m.WebhookEvent,
    m.Notification,
    Success,
    Failure,
    OrmQ,
    AccessAttempt,
    AccessFailureLog,
}


def _task(*, success: bool) -> Task:
    now = timezone.now()
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"task-{'ok' if success else 'failed'}",
        func="math.floor",
        args=(1.5,),
        kwargs={},
        result=1 if success else "Traceback: boom",
        started=now,
        stopped=now,
        success=success,
        attempt_count=1,
    )


def _orm_q() -> OrmQ:
    package = SignedPackage.dumps(
        {"id": uuid.uuid4().hex, "name": "queued-task", "func": "math.floor", "args": (1.5,), "kwargs": {}}
    )
    return OrmQ.objects.using(Conf.ORM).create(key=Conf.PREFIX, payload=package, lock=timezone.now())


def _access_attempt() -> AccessAttempt:
    """A sign-in lockout, as django-axes records one."""
    return AccessAttempt.objects.create(
        username="locked-user", ip_address="81.2.69.160", user_agent="test browser", http_accept="text/html",
        path_info="/admin/login/", get_data="", post_data="password=********************", failures_since_start=5,
    )


def _access_failure() -> AccessFailureLog:
    return AccessFailureLog.objects.create(
        username="locked-user", ip_address="81.2.69.160", user_agent="test browser", http_accept="text/html",
        path_info="/admin/login/", locked_out=True,
    )


def _make_one(model, admin_user):
    """One row of `model`; fails loudly when a newly registered model has no recipe here."""
    makers = {
        m.User: lambda: admin_user,
        Group: lambda: Group.objects.get(name="REP"),
        m.CompanySettings: f.CompanySettingsFactory,
        m.Target: f.TargetFactory,
        m.ImportBatch: f.ImportBatchFactory,
        m.Lead: lambda: f.LeadFactory(assigned_rep=f.RepUserFactory()),
        m.TimelineEvent: f.TimelineEventFactory,
        m.Message: f.MessageFactory,
        m.BulkSend: lambda: f.MessageFactory(bulk_send=f.BulkSendFactory(created_by=f.RepUserFactory())).bulk_send,
        m.MessageTemplate: f.MessageTemplateFactory,
        m.Sequence: lambda: f.SequenceStepFactory().sequence,
        m.Enrollment: f.EnrollmentFactory,
        m.PreviewEvent: f.PreviewEventFactory,
        m.Notification: f.NotificationFactory,
        m.Call: lambda: f.CallFactory(lead__assigned_rep=f.RepUserFactory()),
        m.SavedReply: f.SavedReplyFactory,
        m.Client: lambda: f.SubscriptionFactory(client__rep=f.RepUserFactory()).client,
        m.Subscription: f.SubscriptionFactory,
        m.Transaction: f.TransactionFactory,
        m.Commission: f.CommissionFactory,
        m.Upsell: f.UpsellFactory,
        m.WebhookEvent: f.WebhookEventFactory,
        m.ApiToken: f.ApiTokenFactory,
        Schedule: lambda: Schedule.objects.create(
            name="nightly", func="math.floor", args="1.5", schedule_type=Schedule.DAILY,
            next_run=timezone.now(),
        ),
        Success: lambda: Success.objects.get(pk=_task(success=True).pk),
        Failure: lambda: Failure.objects.get(pk=_task(success=False).pk),
        OrmQ: _orm_q,
        AccessAttempt: _access_attempt,
        AccessFailureLog: _access_failure,
    }
    assert model in makers, f"No recipe for {model._meta.label}: add one to _make_one"
    return makers[model]()


def test_admin_forbids_add_exactly_where_expected():
    forbidden = {model for model in REGISTERED if not _admin_allows_add(model)}
    assert forbidden == ADD_FORBIDDEN


def _admin_allows_add(model) -> bool:
    model_admin = admin.site._registry[model]

    class Superuser:
        is_active = is_staff = is_superuser = True
        is_rep = False

        def has_perm(self, perm, obj=None):
            return True

    class Request:
        user = Superuser()

    return model_admin.has_add_permission(Request())


@pytest.fixture(params=["superuser", "admin_group_only"])
def any_admin_client(request, admin_user, admin_client):
    """The ADMIN role both ways it exists: a superuser, and plain staff in the ADMIN group."""
    if request.param == "superuser":
        return admin_client
    group_admin = f.AdminUserFactory(is_superuser=False)
    assert not group_admin.is_superuser and group_admin.is_admin
    client = Client()
    client.force_login(group_admin)
    return client


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_admin_page_opens_for_an_admin(any_admin_client, admin_user, model):
    admin_client = any_admin_client
    obj = _make_one(model, admin_user)

    changelist = admin_client.get(admin_url(model, "changelist"))
    if model is m.CompanySettings:
        # The singleton's list goes straight to its one edit page.
        assert changelist.status_code == 302
        assert changelist["Location"] == admin_url(model, "change", obj.pk)
    else:
        assert changelist.status_code == 200
        assert obj.pk in [row.pk for row in changelist.context["cl"].result_list]

    add = admin_client.get(admin_url(model, "add"))
    assert add.status_code == (403 if model in ADD_FORBIDDEN else 200)

    change = admin_client.get(admin_url(model, "change", obj.pk))
    assert change.status_code == 200
    assert change.context["original"].pk == obj.pk

    history = admin_client.get(admin_url(model, "history", obj.pk))
    assert history.status_code == 200


def test_admin_index_opens_for_admin_and_rep(admin_client, rep_client):
    for client in (admin_client, rep_client):
        response = client.get(reverse("admin:index"))
        assert response.status_code == 200
        assert "kpis" in response.context


def test_anonymous_is_sent_to_login():
    response = Client().get(reverse("admin:crm_lead_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_change_of_a_lead_is_logged(admin_client, admin_user):
    lead = f.LeadFactory(business_name="Old Name", assigned_rep=f.RepUserFactory())
    f.TimelineEventFactory(lead=lead)
    f.MessageFactory(lead=lead)
    url = admin_url(m.Lead, "change", lead.pk)

    data = changeform_post_data(admin_client.get(url))
    data.update(business_name="New Name", _save="Save")
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.business_name == "New Name"
    entry = LogEntry.objects.get(object_id=str(lead.pk), content_type__model="lead")
    assert entry.user_id == admin_user.pk
    assert entry.action_flag == CHANGE
    assert "Business name" in entry.get_change_message()
    history = admin_client.get(admin_url(m.Lead, "history", lead.pk))
    assert "Business name" in history.content.decode()


def test_mark_lost_action_logs_each_lead_and_writes_timeline(admin_client, admin_user):
    rep = f.RepUserFactory()
    leads = f.LeadFactory.create_batch(3, assigned_rep=rep, status=m.Lead.Status.CONTACTED)
    untouched = f.LeadFactory(assigned_rep=rep, status=m.Lead.Status.CONTACTED)

    response = admin_client.post(
        admin_url(m.Lead, "changelist"),
        {"action": "mark_lost", "_selected_action": [lead.pk for lead in leads]},
    )

    assert response.status_code == 302
    for lead in leads:
        lead.refresh_from_db()
        assert lead.status == m.Lead.Status.LOST
        entry = LogEntry.objects.get(object_id=str(lead.pk), content_type__model="lead")
        assert entry.action_flag == CHANGE
        assert entry.user_id == admin_user.pk
        assert entry.change_message == "Status set to LOST"
        event = m.TimelineEvent.objects.get(lead=lead)
        assert event.kind == m.TimelineEvent.Kind.STATUS_CHANGE
        assert event.actor_id == admin_user.pk
        assert event.data == {"to": "LOST"}
    untouched.refresh_from_db()
    assert untouched.status == m.Lead.Status.CONTACTED
    assert not LogEntry.objects.filter(object_id=str(untouched.pk)).exists()
    assert not m.TimelineEvent.objects.filter(lead=untouched).exists()

"""A rep never sees or changes another rep's rows, by any admin URL.

Rep A and rep B each own leads and everything hanging off them. Logged in as A, every
registered admin is probed: changelist, change, delete, history, autocomplete, form
choices, export and bulk actions. B's rows are named "Bravo ..." so that any page A
receives can also be searched for them as text.
"""

import csv
import io

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success

from crm import models as m
from tests import factories as f
from tests.crm.admin import admin_url, changeform_post_data
from tests.crm.admin.test_admin_pages import _access_attempt, _access_failure, _orm_q, _task

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)

# What a rep may open at all (the REP group's view permissions, crm/migrations/0002_roles).
REP_VIEWABLE = {m.Lead, m.TimelineEvent, m.Message, m.Call, m.PreviewEvent, m.Notification, m.Commission,
                m.BulkSend}
ADMIN_ONLY = {
    m.CompanySettings, m.Target, m.User, Group, m.ImportBatch, m.Sequence, m.MessageTemplate,
    m.Enrollment, m.Client, m.Subscription, m.Transaction, m.Upsell, m.WebhookEvent, m.ApiToken,
    Schedule, Success, Failure, OrmQ, AccessAttempt, AccessFailureLog,
}
# The only add page a rep may open: logging a call.
REP_CAN_ADD = {m.Call}

# What rep A owns, stated independently of crm.selectors.access.
A_OWNS = {
    m.Lead: "assigned_rep",
    m.TimelineEvent: "lead__assigned_rep",
    m.Message: "lead__assigned_rep",
    m.Call: "lead__assigned_rep",
    m.PreviewEvent: "lead__assigned_rep",
    m.Enrollment: "lead__assigned_rep",
    m.Notification: "recipient",
    m.Commission: "rep",
    m.BulkSend: "created_by",
    m.User: "pk",
}
B_MARKERS = ("Bravo", "rep_b")


def _rep_world(rep, prefix: str, sequence) -> dict:
    leads = [
        f.LeadFactory(business_name=f"{prefix} Plumbing {i}", assigned_rep=rep,
                      priority=m.Lead.Priority.HOT, hot_at=timezone.now())
        for i in range(2)
    ]
    lead = leads[0]
    f.TimelineEventFactory(lead=lead, actor=rep, data={"text": f"{prefix} note"})
    bulk = f.BulkSendFactory(created_by=rep, body=f"{prefix} bulk text")
    f.MessageFactory(lead=lead, body=f"{prefix} secret text", bulk_send=bulk)
    f.CallFactory(lead=lead, rep=rep, notes=f"{prefix} call notes")
    f.PreviewEventFactory(lead=lead, session_id=f"{prefix}-session")
    f.EnrollmentFactory(lead=lead, sequence=sequence)
    f.NotificationFactory(recipient=rep, lead=lead, text=f"{prefix} is hot")
    client = f.ClientFactory(name=f"{prefix} Client", lead=leads[1], rep=rep)
    subscription = f.SubscriptionFactory(client=client)
    transaction = f.TransactionFactory(client=client, subscription=subscription,
                                       description=f"{prefix} setup")
    f.CommissionFactory(rep=rep, transaction=transaction)
    f.UpsellFactory(client=client, rep=rep, product=f"{prefix} SEO")
    return {"leads": leads}


@pytest.fixture
def world(rep_user, other_rep, admin_user):
    sequence = f.SequenceStepFactory(sequence__name="Bravo sequence").sequence
    a = _rep_world(rep_user, "Alpha", sequence)
    b = _rep_world(other_rep, "Bravo", sequence)
    # Rows no rep owns.
    f.CompanySettingsFactory()
    f.TargetFactory(rep=other_rep)
    f.ImportBatchFactory(uploaded_by=other_rep, original_name="Bravo.csv")
    f.MessageTemplateFactory(name="Bravo template")
    f.WebhookEventFactory(event_type="Bravo.event")
    f.ApiTokenFactory(user=other_rep, name="Bravo token")
    Schedule.objects.create(name="Bravo schedule", func="math.floor", schedule_type=Schedule.DAILY)
    _task(success=True)
    _task(success=False)
    _orm_q()
    _access_attempt()
    _access_failure()
    return {"a": rep_user, "b": other_rep, "a_leads": a["leads"], "b_leads": b["leads"]}


def _a_pks(model, rep_a) -> set:
    path = A_OWNS.get(model)
    if path is None:
        return set()
    return set(model._default_manager.filter(**{path: rep_a.pk}).values_list("pk", flat=True))


def _foreign_pks(model, rep_a) -> set:
    """Every row of `model` rep A must not reach."""
    return set(model._default_manager.values_list("pk", flat=True)) - _a_pks(model, rep_a)


def _assert_no_b_text(response):
    content = response.content.decode()
    for marker in B_MARKERS:
        assert marker not in content, f"{marker!r} shown to rep A at {response.request['PATH_INFO']}"


def _assert_not_reached(response):
    """Anything but a 200 showing the object: a redirect to the index, 403 or 404."""
    assert response.status_code in (302, 403, 404), response.status_code
    if response.status_code == 302:
        assert response["Location"] == reverse("admin:index")


def test_rep_permission_sets_cover_every_registered_model():
    assert REP_VIEWABLE | ADMIN_ONLY == set(REGISTERED)
    assert not REP_VIEWABLE & ADMIN_ONLY


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_rep_reaches_none_of_the_other_reps_rows(rep_client, world, model):
    rep_a = world["a"]
    foreign = _foreign_pks(model, rep_a)
    assert foreign, f"the world has no foreign {model._meta.label} rows to probe"

    changelist = rep_client.get(admin_url(model, "changelist"))
    add = rep_client.get(admin_url(model, "add"))
    if model in REP_VIEWABLE:
        assert changelist.status_code == 200
        cl = changelist.context["cl"]
        shown = set(cl.queryset.values_list("pk", flat=True))
        assert shown == _a_pks(model, rep_a) and shown, "rep A's list must hold exactly A's rows"
        assert not {row.pk for row in cl.result_list} & foreign
        _assert_no_b_text(changelist)
    else:
        assert changelist.status_code == 403
    assert add.status_code == (200 if model in REP_CAN_ADD else 403)
    if add.status_code == 200:
        _assert_no_b_text(add)

    for pk in foreign:
        for view in ("change", "delete", "history"):
            _assert_not_reached(rep_client.get(admin_url(model, view, pk)))
        _assert_not_reached(rep_client.post(admin_url(model, "change", pk), {}))
        _assert_not_reached(rep_client.post(admin_url(model, "delete", pk), {"post": "yes"}))
    assert foreign <= set(model._default_manager.values_list("pk", flat=True)), "rows were deleted"


def _snapshot() -> dict:
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in REGISTERED
    }


def _object_urls(model) -> dict[str, str]:
    """Every URL of the model's admin that takes an object id, custom views included
    (e.g. the user admin's "<id>/password/"): {url name: name of its id argument}."""
    return {
        pattern.name: next(iter(pattern.pattern.converters))
        for pattern in admin.site._registry[model].get_urls()
        if pattern.name and len(pattern.pattern.converters) == 1
    }


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_object_url_refuses_other_reps_rows(rep_client, world, model):
    """Custom admin views (import confirm/progress/report, undo ...) included: GET and
    POST with each foreign id show nothing of B's and change nothing."""
    foreign = sorted(_foreign_pks(model, world["a"]))
    urls = _object_urls(model)
    assert {f"{model._meta.app_label}_{model._meta.model_name}_{view}"
            for view in ("change", "delete", "history")} <= set(urls)
    before = _snapshot()
    for name, argument in sorted(urls.items()):
        for pk in foreign:
            url = reverse(f"admin:{name}", kwargs={argument: pk})
            for response in (rep_client.get(url), rep_client.post(url, {"post": "yes"})):
                assert response.status_code != 200, url
                _assert_no_b_text(response)
    assert _snapshot() == before


def test_rep_cannot_open_lead_import(rep_client, world):
    assert rep_client.get(reverse("admin:crm_lead_import")).status_code == 403
    assert rep_client.post(reverse("admin:crm_lead_import"), {}).status_code == 403


def _relation_fields(model):
    return [
        field for field in model._meta.get_fields()
        if field.is_relation and field.concrete and field.remote_field is not None
    ]


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_autocomplete_never_offers_other_reps_rows(rep_client, world, model):
    """Any relation of any registered model can be asked for, not only autocomplete_fields."""
    rep_a = world["a"]
    for field in _relation_fields(model):
        remote = field.remote_field.model
        response = rep_client.get(reverse("admin:autocomplete"), {
            "app_label": model._meta.app_label, "model_name": model._meta.model_name,
            "field_name": field.name, "term": "",
        })
        if remote not in REP_VIEWABLE:
            assert response.status_code in (403, 404), (model, field.name, response.status_code)
            continue
        assert response.status_code == 200, (model, field.name)
        ids = {int(row["id"]) for row in response.json()["results"]}
        assert ids == _a_pks(remote, rep_a), (model, field.name)
        _assert_no_b_text(response)


def _model_choice_fields(response):
    """Every choice field of the main form and its inlines, except each inline row's own
    hidden pk (Django checks that one against the parent's rows when saving)."""
    forms = [(response.context["adminform"].form, None)]
    for inline in response.context["inline_admin_formsets"]:
        pk_name = inline.formset.model._meta.pk.name
        forms += [(form, pk_name) for form in [*inline.formset.forms, inline.formset.empty_form]]
    for form, skip in forms:
        for name, field in form.fields.items():
            if hasattr(field, "queryset") and name != skip:
                yield name, field


@pytest.mark.parametrize("model", sorted(REP_VIEWABLE, key=lambda model: model._meta.label),
                         ids=lambda model: model._meta.label)
def test_form_choices_offer_only_own_rows(rep_client, world, model):
    rep_a = world["a"]
    own = sorted(_a_pks(model, rep_a))
    pages = [rep_client.get(admin_url(model, "change", own[0]))]
    if model in REP_CAN_ADD:
        pages.append(rep_client.get(admin_url(model, "add")))
    for page in pages:
        assert page.status_code == 200
        _assert_no_b_text(page)
        for name, field in _model_choice_fields(page):
            offered = set(field.queryset.values_list("pk", flat=True))
            assert not offered & _foreign_pks(field.queryset.model, rep_a), (model, name)


def test_rep_cannot_log_a_call_on_another_reps_lead(rep_client, world):
    b_lead = world["b_leads"][0]
    before = m.Call.objects.count()

    response = rep_client.post(admin_url(m.Call, "add"), {
        "lead": b_lead.pk, "outcome": m.Call.Outcome.INTERESTED, "notes": "sneaky", "_save": "Save",
    })

    assert response.status_code == 200
    assert "lead" in response.context["adminform"].form.errors
    assert m.Call.objects.count() == before


def test_rep_logs_a_call_on_own_lead_as_themselves(rep_client, world):
    a_lead = world["a_leads"][1]

    response = rep_client.post(admin_url(m.Call, "add"), {
        "lead": a_lead.pk, "rep": world["b"].pk, "outcome": m.Call.Outcome.VOICEMAIL,
        "notes": "left a message", "_save": "Save",
    })

    assert response.status_code == 302
    call = m.Call.objects.get(lead=a_lead, notes="left a message")
    assert call.rep_id == world["a"].pk


def _csv_format_index() -> str:
    formats = admin.site._registry[m.Lead].get_export_formats()
    return str(next(i for i, fmt in enumerate(formats) if fmt().get_title() == "csv"))


def _export(client, **extra) -> list[dict]:
    response = client.post(
        reverse("admin:crm_lead_export"), {"format": _csv_format_index(), "resource": "0", **extra}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_export_holds_only_own_leads(rep_client, admin_client, world):
    a_ids = {str(lead.pk) for lead in world["a_leads"]}
    b_ids = [str(lead.pk) for lead in world["b_leads"]]

    rows = _export(rep_client)
    assert {row["id"] for row in rows} == a_ids
    assert {row["assigned_rep"] for row in rows} == {"rep_a"}

    # Asking for B's rows by id (the action-style export) yields nothing of B's.
    with pytest.warns(DeprecationWarning):
        rows = _export(rep_client, export_items=b_ids + sorted(a_ids))
    assert {row["id"] for row in rows} == a_ids

    # The admin export is not scoped: both reps' leads.
    assert {row["id"] for row in _export(admin_client)} == a_ids | set(b_ids)


def test_bulk_action_never_touches_other_reps_leads(rep_client, world):
    b_lead = world["b_leads"][0]
    a_lead = world["a_leads"][0]

    response = rep_client.post(admin_url(m.Lead, "changelist"), {
        "action": "mark_lost", "_selected_action": [b_lead.pk, a_lead.pk],
    })
    assert response.status_code == 302

    b_lead.refresh_from_db()
    a_lead.refresh_from_db()
    assert b_lead.status == m.Lead.Status.NEW
    assert a_lead.status == m.Lead.Status.LOST
    assert not LogEntry.objects.filter(object_id=str(b_lead.pk), content_type__model="lead").exists()
    assert not m.TimelineEvent.objects.filter(lead=b_lead, kind=m.TimelineEvent.Kind.STATUS_CHANGE).exists()

    # The same action posted from B's lead's change page.
    response = rep_client.post(admin_url(m.Lead, "change", b_lead.pk), {
        "action": "mark_lost", "_selected_action": [b_lead.pk],
    })
    _assert_not_reached(response)
    b_lead.refresh_from_db()
    assert b_lead.status == m.Lead.Status.NEW


def test_rep_cannot_edit_another_reps_lead(rep_client, world):
    b_lead = world["b_leads"][0]
    response = rep_client.post(admin_url(m.Lead, "change", b_lead.pk), {
        "business_name": "Hijacked", "phone": b_lead.phone, "status": "LOST",
        "priority": "NORMAL", "country": "US", "_save": "Save",
    })
    _assert_not_reached(response)
    b_lead.refresh_from_db()
    assert b_lead.business_name.startswith("Bravo")


def test_rep_cannot_reassign_own_lead(rep_client, world):
    lead = world["a_leads"][0]
    url = admin_url(m.Lead, "change", lead.pk)
    page = rep_client.get(url)
    assert "assigned_rep" not in page.context["adminform"].form.fields

    data = changeform_post_data(page)
    data.update(assigned_rep=world["b"].pk, notes="called twice", _save="Save")
    response = rep_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.notes == "called twice"
    assert lead.assigned_rep_id == world["a"].pk


def test_changelist_filters_and_search_cannot_reach_other_reps_leads(rep_client, world):
    url = admin_url(m.Lead, "changelist")
    a_pks = {lead.pk for lead in world["a_leads"]}

    # Both reps' leads match "Plumbing"; A finds only A's.
    response = rep_client.get(url, {"q": "Plumbing"})
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == a_pks
    _assert_no_b_text(response)

    response = rep_client.get(url, {"q": world["b_leads"][0].phone})
    assert not response.context["cl"].queryset.exists()
    _assert_no_b_text(response)

    # The rep filter is not offered to reps; hand-made, it finds nothing of B's.
    response = rep_client.get(url, {"assigned_rep__id__exact": world["b"].pk})
    if response.status_code == 200:
        assert not response.context["cl"].queryset.exists()
        _assert_no_b_text(response)
    else:
        assert response.status_code == 302  # Django's "invalid lookup" redirect


def test_dashboard_and_search_show_only_own_rows(rep_client, world):
    index = rep_client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert {lead.pk for lead in index.context["hot_leads"]} == {lead.pk for lead in world["a_leads"]}
    assert {n.recipient_id for n in index.context["notifications"]} == {world["a"].pk}
    assert "rep_rows" not in index.context
    _assert_no_b_text(index)

    search = rep_client.get(reverse("admin:search"), {"s": "bravo"})
    assert search.status_code == 200
    _assert_no_b_text(search)


# --- Issue 12, working a lead: calls, outcomes, next actions and saved replies ---------------

# Saved replies: a rep reads the shared ones and keeps their own (crm.selectors.access).
REP_VIEWABLE.add(m.SavedReply)
REP_CAN_ADD.add(m.SavedReply)
A_OWNS[m.SavedReply] = "owner"


@pytest.fixture(autouse=True)
def _saved_replies_in_the_world(request):
    """Each rep keeps a saved reply of their own, so every probe above has B's to find."""
    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        f.SavedReplyFactory(owner=world["a"], title="Alpha reply", body="Alpha text")
        f.SavedReplyFactory(owner=world["b"], title="Bravo reply", body="Bravo text")


def test_rep_cannot_call_log_outcomes_or_plan_on_another_reps_lead(rep_client, world):
    b_lead = world["b_leads"][0]
    before = _snapshot()

    for name, data in (("call", {}), ("outcome", {"outcome": "not_interested"}),
                       ("next_action", {"status": "LOST", "next_action": "x"})):
        response = rep_client.post(reverse(f"admin:crm_lead_{name}", args=[b_lead.pk]), data)
        assert response.status_code == 404, name
        _assert_no_b_text(response)

    assert _snapshot() == before
    b_lead.refresh_from_db()
    assert b_lead.status == m.Lead.Status.NEW and b_lead.next_action == ""


def test_rep_lead_page_offers_own_and_shared_saved_replies_only(rep_client, world):
    f.SavedReplyFactory(title="Shared hello", body="Hello {contact_first_name}")
    a_lead = world["a_leads"][0]

    page = rep_client.get(admin_url(m.Lead, "change", a_lead.pk))

    titles = {reply["title"] for reply in page.context["saved_replies"]}
    assert titles == {"Alpha reply", "Shared hello"}
    _assert_no_b_text(page)


def test_a_logged_in_rep_cannot_post_voice_webhooks(rep_client, world):
    call = m.Call.objects.filter(lead__assigned_rep=world["b"]).first()
    before = _snapshot()

    for name in ("twilio_voice_status", "twilio_voice_twiml"):
        response = rep_client.post(reverse(name, args=[call.pk]), {
            "CallSid": call.provider_sid, "CallStatus": "completed", "CallDuration": "1"})
        assert response.status_code == 403, name
        _assert_no_b_text(response)

    assert _snapshot() == before


# "My queue" (crm/admin/queue.py) and the "Assign to" action (crm/admin/lead_assign.py).

def test_rep_queue_page_and_its_refresh_show_own_leads_only(rep_client, world):
    a_pks, b = {lead.pk for lead in world["a_leads"]}, world["b"]
    for name in ("crm_my_queue", "crm_my_queue_rows"):
        for query in ("", f"?rep={b.pk}"):
            response = rep_client.get(reverse(name) + query)
            assert response.status_code == 200, (name, query)
            shown = {row.lead_id for row in response.context["queue"].rows}
            assert shown == a_pks, (name, query)
            _assert_no_b_text(response)
            assert "rep_rows" not in response.context and "reps" not in response.context


def test_rep_numbers_endpoint_counts_own_work_only(rep_client, world):
    for query in ("", f"?rep={world['b'].pk}"):
        response = rep_client.get(reverse("crm_my_queue_numbers") + query)
        assert response.status_code == 200
        assert response.context["numbers"]["calls"] == m.Call.objects.filter(rep=world["a"]).count()
        _assert_no_b_text(response)


def test_rep_availability_switch_touches_only_the_reps_own_profile(rep_client, world):
    before = dict(m.RepProfile.objects.values_list("user_id", "is_available"))
    response = rep_client.post(reverse("crm_my_queue_availability"), {"available": "0", "rep": world["b"].pk})
    assert response.status_code == 302
    after = dict(m.RepProfile.objects.values_list("user_id", "is_available"))
    assert after == {**before, world["a"].pk: False}


def test_rep_cannot_assign_leads_by_the_assign_action(rep_client, world):
    a_lead, b_lead = world["a_leads"][0], world["b_leads"][0]
    before = _snapshot()
    for lead, rep in ((a_lead, world["b"]), (b_lead, world["a"])):
        response = rep_client.post(admin_url(m.Lead, "changelist"), {
            "action": "assign_to", "_selected_action": [lead.pk], "apply": "1", "rep": rep.pk})
        assert response.status_code in (200, 302)
        _assert_no_b_text(response)
    assert _snapshot() == before
    a_lead.refresh_from_db()
    b_lead.refresh_from_db()
    assert (a_lead.assigned_rep, b_lead.assigned_rep) == (world["a"], world["b"])
    assert not m.TimelineEvent.objects.filter(kind=m.TimelineEvent.Kind.ASSIGNED).exists()

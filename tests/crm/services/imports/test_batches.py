"""The batch workflow: confirm writes once, records counts, timeline and consent; big files
run in the worker with progress; enrichment is queued per chunk; undo keeps worked leads."""

from unittest.mock import call, patch

import pytest
from django_q.models import Task
from django_q.tasks import async_task as real_async_task

from crm.models import ImportBatch, Lead, TimelineEvent
from crm.services.imports import batches as batch_service
from crm.services.imports import plan as plan_module
from crm.services.imports.batches import (
    ImportStateError,
    import_batch_confirm,
    import_batch_create,
    import_batch_revert,
)
from crm.tasks.imports import import_run_task
from tests.crm.services.imports.support import csv_bytes, db_counts, e164, import_now, leads_csv
from tests.factories import (
    ClientFactory,
    ImportBatchFactory,
    LeadFactory,
    MessageFactory,
    TimelineEventFactory,
)

pytestmark = pytest.mark.django_db


def test_confirm_writes_the_previewed_rows_and_records_counts(admin_user):
    LeadFactory(phone=e164(1))
    data = csv_bytes([["Business Name", "Phone"], ["A", "(212) 300-0000"], ["B", "(212) 300-0001"],
                      ["C", "(212) 300-0002"], ["C again", "212 300 0002"], ["D", "bad"]])
    batch = import_batch_create(data=data, filename="leads.csv", actor=admin_user)
    assert Lead.objects.count() == 1

    batch = import_batch_confirm(batch_id=batch.pk, actor=admin_user)

    assert batch.status == ImportBatch.Status.DONE
    assert (batch.total_rows, batch.processed_rows, batch.created_count, batch.updated_count,
            batch.skipped_count, batch.duplicate_count, batch.error_count) == (5, 5, 2, 0, 1, 1, 1)
    assert batch.finished_at is not None
    assert set(Lead.objects.filter(source_batch=batch).values_list("phone", flat=True)) == {e164(0), e164(2)}
    assert [line["row"] for line in batch.error_report] == [3, 5, 6]


def test_confirming_twice_imports_once(admin_user):
    batch = import_batch_create(data=leads_csv(3), filename="leads.csv", actor=admin_user)
    import_batch_confirm(batch_id=batch.pk, actor=admin_user)
    after_first = db_counts()

    with pytest.raises(ImportStateError, match="This import is done; it cannot be confirmed."):
        import_batch_confirm(batch_id=batch.pk, actor=admin_user)
    import_run_task(batch.pk, admin_user.pk)  # a retried worker task must not import again either

    assert db_counts() == after_first
    assert Lead.objects.count() == 3


def test_each_new_lead_gets_an_imported_timeline_event(admin_user):
    batch = import_now(leads_csv(3), "leads.csv", admin_user)

    events = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.IMPORTED).select_related("lead")
    assert sorted((e.lead.phone, e.data["row"]) for e in events) == [(e164(0), 2), (e164(1), 3), (e164(2), 4)]
    assert {(e.actor_id, e.data["batch"]) for e in events} == {(admin_user.pk, batch.pk)}


def test_consent_is_recorded_on_the_batch_and_each_new_lead(admin_user):
    batch = import_now(leads_csv(2), "leads.csv", admin_user, consent_source=" Website form, 2026 ",
                       consent_wording="Yes, text me about my website.")

    assert (batch.consent_source, batch.consent_wording) == ("Website form, 2026", "Yes, text me about my website.")
    assert batch.consent_recorded_by == admin_user
    assert batch.consent_recorded_at is not None
    assert list(Lead.objects.order_by().values_list("consent_source", "consent_at").distinct()) == [
        ("Website form, 2026", batch.consent_recorded_at)]


def test_without_consent_nothing_is_attested(admin_user):
    batch = import_now(leads_csv(1), "leads.csv", admin_user)

    assert (batch.consent_source, batch.consent_recorded_by, batch.consent_recorded_at) == ("", None, None)
    assert list(Lead.objects.values_list("consent_source", "consent_at")) == [("", None)]


def test_a_lead_added_between_preview_and_confirm_is_skipped(admin_user):
    batch = import_batch_create(data=leads_csv(3), filename="leads.csv", actor=admin_user)
    LeadFactory(phone=e164(1), business_name="Added by hand")

    batch = import_batch_confirm(batch_id=batch.pk, actor=admin_user)

    assert (batch.created_count, batch.skipped_count) == (2, 1)
    assert Lead.objects.get(phone=e164(1)).business_name == "Added by hand"


def test_a_phone_taken_while_the_rows_are_written_is_skipped_not_crashed(admin_user, monkeypatch):
    # Simulate the race: the plan does not see the lead someone else just added.
    LeadFactory(phone=e164(1), business_name="Raced in")
    monkeypatch.setattr(plan_module, "_existing_by_phone", lambda phones, mode: {})

    batch = import_now(leads_csv(3), "leads.csv", admin_user)

    assert (batch.status, batch.created_count, batch.skipped_count) == (ImportBatch.Status.DONE, 2, 1)
    assert {"row": 3, "column": "Phone", "value": e164(1),
            "reason": "added to the CRM while the import ran"} in batch.error_report
    assert Lead.objects.get(phone=e164(1)).business_name == "Raced in"
    assert Lead.objects.count() == 3


# --- Big files in the background --------------------------------------------------------------


def test_big_file_is_planned_and_written_by_the_worker(settings, admin_user, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    """Over IMPORT_BACKGROUND_ROWS the upload only stores the file; the dry run is queued after
    commit (django-q2 runs it at once in tests: sync=True), and so is the confirmed run."""
    settings.IMPORT_BACKGROUND_ROWS = 5
    monkeypatch.setattr("crm.services.imports.execute.WRITE_CHUNK", 5)
    progress = []
    real_execute = batch_service.import_execute

    def execute_and_watch(**kwargs):
        def on_progress(done):
            kwargs["on_progress"](done)
            progress.append(ImportBatch.objects.values_list("status", "processed_rows").get(pk=kwargs["batch"].pk))
        return real_execute(**{**kwargs, "on_progress": on_progress})

    monkeypatch.setattr(batch_service, "import_execute", execute_and_watch)

    with patch("crm.enqueue.async_task", side_effect=_run_all_but_enrichment) as async_task:
        with django_capture_on_commit_callbacks(execute=False) as upload_callbacks:
            batch = import_batch_create(data=leads_csv(20), filename="big.csv", actor=admin_user)
        batch.refresh_from_db()
        assert (batch.status, batch.total_rows, batch.created_count) == (ImportBatch.Status.CHECKING, 20, 0)
        assert len(upload_callbacks) == 1

        upload_callbacks[0]()  # the commit: the dry-run task is queued and (sync) runs
        batch.refresh_from_db()
        assert (batch.status, batch.created_count) == (ImportBatch.Status.PREVIEWED, 20)
        assert Lead.objects.count() == 0

        with django_capture_on_commit_callbacks(execute=True):
            confirmed = import_batch_confirm(batch_id=batch.pk, actor=admin_user)

    assert confirmed.status == ImportBatch.Status.DONE
    assert (confirmed.created_count, confirmed.processed_rows, confirmed.total_rows) == (20, 20, 20)
    assert Lead.objects.filter(source_batch=batch).count() == 20
    assert progress == [("running", 5), ("running", 10), ("running", 15), ("running", 20)]
    assert [c for c in async_task.call_args_list if c.args[0] == DISPATCH] == [
        call(DISPATCH, batch.pk, task_name=f"import-{batch.pk}-enrich")]
    tasks = dict(Task.objects.values_list("name", "success"))
    assert tasks == {f"import-{batch.pk}-dry-run": True, f"import-{batch.pk}-run": True}


def test_small_file_is_planned_during_the_upload(settings, admin_user, django_capture_on_commit_callbacks):
    settings.IMPORT_BACKGROUND_ROWS = 5
    with django_capture_on_commit_callbacks() as callbacks:
        batch = import_batch_create(data=leads_csv(5), filename="small.csv", actor=admin_user)

    assert callbacks == []
    assert (batch.status, batch.created_count) == (ImportBatch.Status.PREVIEWED, 5)


DISPATCH = "crm.tasks.pipeline.batch_enrichment_dispatch_task"
ENRICH = "crm.tasks.enrichment.enrich_leads_task"


def _run_all_but_enrichment(func, *args, **kwargs):
    """Stands in for crm.enqueue.async_task: import tasks go through django-q2 (sync in tests),
    the enrichment is only recorded."""
    if func == DISPATCH:
        return None
    return real_async_task(func, *args, **kwargs)


def _queue_dispatch_for_real(func, *args, **kwargs):
    """Stands in for crm.enqueue.async_task: the per-import dispatcher really goes
    through django-q2 (sync in tests), the enrichment chunk tasks are only recorded."""
    if func == DISPATCH:
        return real_async_task(func, *args, **kwargs)
    return None


def test_enrichment_is_queued_in_chunks_after_commit(admin_user, django_capture_on_commit_callbacks):
    batch = import_batch_create(data=leads_csv(450), filename="leads.csv", actor=admin_user)

    with patch("crm.enqueue.async_task", side_effect=_queue_dispatch_for_real) as async_task:
        with django_capture_on_commit_callbacks(execute=True):
            import_batch_confirm(batch_id=batch.pk, actor=admin_user)
            assert async_task.call_count == 0  # nothing before the leads are committed

    calls = [(c.args[0], c.args[1:]) for c in async_task.call_args_list]
    assert calls[0] == (DISPATCH, (batch.pk,))  # the request queues one task per import ...
    chunks = [args[0] for func, args in calls[1:] if func == ENRICH]
    assert len(calls) == 4
    assert [len(chunk) for chunk in chunks] == [200, 200, 50]  # ... which queues one per 200 leads
    assert sorted(i for chunk in chunks for i in chunk) == sorted(
        Lead.objects.filter(source_batch=batch).values_list("pk", flat=True))
    assert Task.objects.get(name=f"import-{batch.pk}-enrich").success


def test_no_enrichment_when_nothing_was_created(admin_user, django_capture_on_commit_callbacks):
    LeadFactory(phone=e164(0))
    batch = import_batch_create(data=leads_csv(1), filename="leads.csv", actor=admin_user)

    with patch("crm.enqueue.async_task") as async_task:
        with django_capture_on_commit_callbacks(execute=True):
            import_batch_confirm(batch_id=batch.pk, actor=admin_user)

    assert async_task.call_count == 0


# --- Undo ---------------------------------------------------------------------------------------


@pytest.fixture
def worked_batch(admin_user):
    """A finished import of five leads, four of which have been worked since."""
    LeadFactory(phone=e164(9), business_name="Updated only", email="")
    data = csv_bytes([["Business Name", "Phone", "Email"]]
                     + [[f"Lead {i}", e164(i), ""] for i in range(5)]
                     + [["Updated only", e164(9), "new@example.com"]])
    batch = import_now(data, "leads.csv", admin_user, mode="fill")
    leads = {lead.business_name: lead for lead in Lead.objects.filter(source_batch=batch)}
    MessageFactory(lead=leads["Lead 1"])
    leads["Lead 2"].status = Lead.Status.PAID
    leads["Lead 2"].save()
    ClientFactory(lead=leads["Lead 3"])
    TimelineEventFactory(lead=leads["Lead 4"], kind=TimelineEvent.Kind.CALL)
    TimelineEventFactory(lead=leads["Lead 0"], kind=TimelineEvent.Kind.NOTE)  # a note is not activity
    return batch


def test_undo_deletes_untouched_leads_and_keeps_worked_ones_with_reasons(worked_batch, admin_user):
    other = LeadFactory(phone=e164(50))

    result = import_batch_revert(batch=worked_batch, actor=admin_user)

    assert result.deleted == 1
    assert sorted((k["business_name"], k["reason"]) for k in result.kept) == [
        ("Lead 1", "has text messages"), ("Lead 2", "paid / became a client"),
        ("Lead 3", "paid / became a client"), ("Lead 4", "has calls or other activity")]
    assert sorted(Lead.objects.values_list("business_name", flat=True)) == sorted([
        "Lead 1", "Lead 2", "Lead 3", "Lead 4", other.business_name, "Updated only"])
    worked_batch.refresh_from_db()
    assert worked_batch.status == ImportBatch.Status.REVERTED
    assert worked_batch.summary["revert"] | {"at": None} == {
        "deleted": 1, "kept": result.kept, "kept_count": 4, "by": admin_user.pk, "at": None}


def test_only_finished_imports_can_be_undone(admin_user):
    previewed = import_batch_create(data=leads_csv(2), filename="leads.csv", actor=admin_user)
    reverted = ImportBatchFactory(status=ImportBatch.Status.REVERTED)
    before = db_counts()

    with pytest.raises(ImportStateError, match="Only finished imports can be undone; this one is previewed"):
        import_batch_revert(batch=previewed, actor=admin_user)
    with pytest.raises(ImportStateError, match="this one is reverted"):
        import_batch_revert(batch=reverted, actor=admin_user)

    assert db_counts() == before
    previewed.refresh_from_db()
    assert previewed.status == ImportBatch.Status.PREVIEWED

"""/api/v1/imports: upload -> batch id -> poll -> confirm, through the admin's import services."""

from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import ImportBatch, Lead
from tests.crm.services.imports.support import e164, leads_csv


def _upload(api, content: bytes, name="leads.csv", headers=None, **form):
    return api.post("/imports", form, headers=headers, files={"file": SimpleUploadedFile(name, content)})


def test_upload_poll_and_confirm_give_the_admins_counts(admin_api):
    uploaded = _upload(admin_api, leads_csv(3))
    assert uploaded.status_code == 201, uploaded.content
    batch = uploaded.json()
    assert batch["status"] == "previewed" and batch["total_rows"] == 3 and not Lead.objects.exists()
    polled = admin_api.get(f"/imports/{batch['id']}").json()
    assert polled["status"] == "previewed"
    confirmed = admin_api.post(f"/imports/{batch['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "done"
    assert confirmed.json()["created_count"] == 3
    assert set(Lead.objects.values_list("phone", flat=True)) == {e164(i) for i in range(3)}
    twice = admin_api.post(f"/imports/{batch['id']}/confirm")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "import_state"


def test_confirm_at_upload_writes_at_once_and_the_key_makes_one_batch(admin_api):
    key = {"Idempotency-Key": "nightly-2026-07-15"}
    first = _upload(admin_api, leads_csv(2), headers=key, confirm="true")
    second = _upload(admin_api, leads_csv(2), headers=key, confirm="true")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and first.json()["status"] == "done"
    assert ImportBatch.objects.count() == 1 and Lead.objects.count() == 2


def test_a_bad_file_is_422_naming_the_problem_and_nothing_is_stored(admin_api):
    response = _upload(admin_api, b"Name,City\r\nJoe,Albany\r\n")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_file" and "file" in error["fields"]
    assert not ImportBatch.objects.exists()
    no_file = admin_api.post("/imports", {"duplicates": "skip"}, files={})
    assert no_file.status_code == 422 and "error" in no_file.json()


def test_a_rep_may_neither_import_nor_read_imports(rep_api, admin_api):
    batch_id = _upload(admin_api, leads_csv(1)).json()["id"]
    assert _upload(rep_api, leads_csv(1)).status_code == 403
    assert rep_api.get(f"/imports/{batch_id}").status_code == 403
    assert ImportBatch.objects.count() == 1

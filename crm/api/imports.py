"""/api/v1/imports: upload a file (dry run as in the admin), confirm it, follow its progress."""

from django.conf import settings
from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja import Field as SchemaField
from ninja.files import UploadedFile

from crm.api.auth import require_perm
from crm.api.errors import ERRORS, ApiError
from crm.api.idempotency import idempotent
from crm.api.schemas import ImportOut
from crm.models import ImportBatch
from crm.selectors.access import scope_queryset
from crm.services.imports.batches import ImportStateError, import_batch_confirm, import_batch_create
from crm.services.imports.plan import DuplicateMode
from crm.services.imports.reading import ImportFileError

router = Router(tags=["imports"])


class ImportForm(Schema):
    duplicates: DuplicateMode = SchemaField(DuplicateMode.SKIP, description="Leads already in the CRM (same phone).")
    consent_source: str = SchemaField("", max_length=200)
    consent_wording: str = SchemaField("", max_length=5000)
    confirm: bool = SchemaField(False, description="Write the leads as soon as the dry run is done.")


def _require_importer(request: HttpRequest) -> None:
    require_perm(request, "crm.add_lead")
    require_perm(request, "crm.add_importbatch")


def _batch_or_404(request: HttpRequest, batch_id: int) -> ImportBatch:
    require_perm(request, "crm.view_importbatch")
    batch = scope_queryset(ImportBatch.objects.all(), request.user).filter(pk=batch_id).first()
    if batch is None:
        raise ApiError(404, "not_found", f"No import #{batch_id} that this token may see.")
    return batch


def _confirm(batch: ImportBatch, actor) -> ImportBatch:
    try:
        return import_batch_confirm(batch_id=batch.pk, actor=actor)
    except ImportStateError as exc:
        raise ApiError(409, "import_state", str(exc)) from None


@router.post("/imports", response={201: ImportOut, **ERRORS},
             summary="Upload a CSV, TSV or XLSX file; its dry run starts (poll GET /imports/{id})")
def import_post(request: HttpRequest, file: File[UploadedFile], form: Form[ImportForm]):
    _require_importer(request)
    if file.size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise ApiError(422, "invalid", f"The file is over {settings.IMPORT_MAX_UPLOAD_BYTES // 1_048_576} MB.",
                       {"file": ["is too big"]})
    if form.consent_wording and not form.consent_source:
        raise ApiError(422, "invalid", "Say where the consent was given, or leave the wording empty.",
                       {"consent_source": ["is required with consent_wording"]})

    def run() -> tuple[int, dict]:
        try:
            batch = import_batch_create(data=file, filename=file.name or "leads.csv", actor=request.user,
                                        mode=form.duplicates, consent_source=form.consent_source,
                                        consent_wording=form.consent_wording)
        except ImportFileError as exc:
            raise ApiError(422, "invalid_file", str(exc), {"file": [str(exc)]}) from None
        if form.confirm and batch.status == ImportBatch.Status.PREVIEWED:
            batch = _confirm(batch, request.user)
        return 201, ImportOut.from_orm(batch).model_dump(mode="json")

    file.seek(0)
    content = file.read()
    file.seek(0)
    return Status(*idempotent(request, [content, form.model_dump_json().encode()], run))


@router.get("/imports/{batch_id}", response={200: ImportOut, **ERRORS}, summary="An import's progress and counts")
def import_get(request: HttpRequest, batch_id: int):
    return _batch_or_404(request, batch_id)


@router.post("/imports/{batch_id}/confirm", response={200: ImportOut, **ERRORS},
             summary="Write a previewed import (in the worker when big)")
def import_confirm(request: HttpRequest, batch_id: int):
    _require_importer(request)
    return _confirm(_batch_or_404(request, batch_id), request.user)

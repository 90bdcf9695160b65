"""django-q2 tasks for big imports: they take ids, load rows and call one service."""

from crm.models import ImportBatch, User
from crm.services.imports.batches import import_batch_dry_run, import_batch_run


def import_dry_run_task(batch_id: int) -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status == ImportBatch.Status.CHECKING:
        import_batch_dry_run(batch=batch)


def import_run_task(batch_id: int, actor_id: int | None) -> None:
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    import_batch_run(batch_id=batch_id, actor=actor)

"""django-q2 tasks for big imports: they take ids, load rows and call one service."""

from django_q.tasks import async_task

from crm.models import ImportBatch, User
from crm.services.imports.batches import import_batch_dry_run, import_batch_run


def enqueue_import_dry_run(batch_id: int) -> None:
    async_task("crm.tasks.imports.import_dry_run_task", batch_id, task_name=f"import-{batch_id}-dry-run")


def enqueue_import_run(batch_id: int, actor_id: int | None) -> None:
    async_task("crm.tasks.imports.import_run_task", batch_id, actor_id, task_name=f"import-{batch_id}-run")


def import_dry_run_task(batch_id: int) -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status == ImportBatch.Status.CHECKING:
        import_batch_dry_run(batch=batch)


def import_run_task(batch_id: int, actor_id: int | None) -> None:
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    import_batch_run(batch_id=batch_id, actor=actor)

"""crm.enqueue: background work is queued by dotted path, after the commit where it says so,
and the import service reaches its tasks only through it."""

import ast
from pathlib import Path
from unittest.mock import call, patch

import pytest

from crm import enqueue

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("start", "args", "queued"), [
    (enqueue.import_dry_run_enqueue, (7,),
     call("crm.tasks.imports.import_dry_run_task", 7, task_name="import-7-dry-run")),
    (enqueue.batch_enrichment_enqueue, (7,),
     call("crm.tasks.pipeline.batch_enrichment_dispatch_task", 7, task_name="import-7-enrich")),
])
def test_queued_only_once_the_transaction_commits(start, args, queued, django_capture_on_commit_callbacks):
    with patch("crm.enqueue.async_task") as async_task:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            start(*args)
        assert async_task.call_count == 0
        for callback in callbacks:
            callback()

    assert async_task.call_args_list == [queued]


def test_a_confirmed_import_is_queued_at_once():
    with patch("crm.enqueue.async_task") as async_task:
        enqueue.import_run_enqueue(7, 3)

    async_task.assert_called_once_with("crm.tasks.imports.import_run_task", 7, 3, task_name="import-7-run")


@pytest.mark.parametrize(("start", "task"), [
    (enqueue.enrichment_enqueue, "crm.tasks.enrichment.enrich_leads_task"),
    (enqueue.personalisation_enqueue, "crm.tasks.enrichment.personalise_leads_task"),
])
def test_leads_are_queued_in_sorted_chunks_without_repeats(start, task):
    ids = list(range(450, 0, -1)) + [5, 5]

    with patch("crm.enqueue.async_task") as async_task:
        tasks = start(ids, force=True)

    chunks = [c.args[1] for c in async_task.call_args_list]
    assert tasks == 3
    assert [len(chunk) for chunk in chunks] == [200, 200, 50]
    assert [i for chunk in chunks for i in chunk] == list(range(1, 451))
    assert {(c.args[0], c.args[2], c.kwargs["task_name"]) for c in async_task.call_args_list} == {
        (task, True, task.rsplit(".", 1)[1].removesuffix("_task").replace("_", "-"))}


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_enqueue_imports_no_services_and_no_tasks():
    assert not {m for m in _imported_modules(ROOT / "crm" / "enqueue.py")
                if m.startswith(("crm.services", "crm.tasks"))}


def test_the_import_service_and_its_tasks_do_not_import_each_other():
    service_imports = set().union(*(_imported_modules(p) for p in (ROOT / "crm" / "services" / "imports").glob("*.py")))

    assert not {m for m in service_imports if m.startswith("crm.tasks")}
    assert "crm.enqueue" in service_imports

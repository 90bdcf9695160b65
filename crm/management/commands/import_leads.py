"""Import leads from a CSV/TSV/XLSX file through the same code path as the admin."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.models import ImportBatch, User
from crm.services.imports.batches import (
    import_batch_create,
    import_batch_run,
    import_preview,
)
from crm.services.imports.plan import DuplicateMode
from crm.services.imports.reading import ImportFileError


class Command(BaseCommand):
    help = "Import leads from a CSV, TSV or XLSX file. Prints one line of counts."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; write nothing.")
        parser.add_argument("--update-existing", action="store_true",
                            help="Overwrite existing leads (same phone) with the file's values.")
        parser.add_argument("--fill-empty", action="store_true",
                            help="Fill only the empty fields of existing leads.")
        parser.add_argument("--user", help="Username recorded as the importer.")
        parser.add_argument("--consent-source", default="", help="Where these contacts gave consent.")
        parser.add_argument("--consent-wording", default="", help="The wording they agreed to.")

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            path.open("rb").close()  # read as a stream later, a chunk at a time
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        mode = DuplicateMode.SKIP
        if options["update_existing"]:
            mode = DuplicateMode.OVERWRITE
        elif options["fill_empty"]:
            mode = DuplicateMode.FILL
        actor = None
        if options["user"]:
            actor = User.objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}.")
        try:
            if options["dry_run"]:
                counts = import_preview(data=path, filename=path.name, mode=mode, keep_rows=False).counts
                self.stdout.write(self._line(counts["new"], counts["update"], counts["skip"],
                                             counts["duplicate"], counts["invalid"]))
                return
            batch = import_batch_create(data=path, filename=path.name, actor=actor, mode=mode,
                                        consent_source=options["consent_source"],
                                        consent_wording=options["consent_wording"], dry_run=False)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        # The command line waits for the result, whatever the size.
        batch = import_batch_run(batch_id=batch.pk, actor=actor)
        if batch.status == ImportBatch.Status.FAILED:
            raise CommandError(batch.error_message)
        self.stdout.write(self._line(batch.created_count, batch.updated_count, batch.skipped_count,
                                     batch.duplicate_count, batch.error_count))

    @staticmethod
    def _line(created, updated, skipped, duplicates, invalid) -> str:
        return f"created={created} updated={updated} skipped={skipped} duplicates={duplicates} invalid={invalid}"

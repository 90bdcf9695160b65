"""manage.py seed_demo: load the demo agency into a development database (once)."""

from django.core.management.base import BaseCommand, CommandError

from crm.demo import DemoSeedRefused, demo_seed
from crm.demo.seed import DEFAULT_SEED


class Command(BaseCommand):
    help = (
        "Load demo data: an admin, two reps, ~300 leads with texts, preview visits, calls, "
        "clients and payments. Safe to run twice; refused with production settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help="Random seed; the same seed gives the same data.")

    def handle(self, *args, **options):
        try:
            result = demo_seed(seed=options["seed"])
        except DemoSeedRefused as exc:
            raise CommandError(str(exc)) from exc

        if not result.created:
            self.stdout.write(self.style.WARNING("Demo data already present: nothing changed."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded in {result.seconds:.1f}s."))
            for model, count in sorted(result.counts.items()):
                self.stdout.write(f"  {model:<16} {count:>6}")
        self.stdout.write("Logins (admin at /admin/):")
        for login in result.logins:
            self.stdout.write(f"  {login.role:<5} {login.username} / {login.password}")

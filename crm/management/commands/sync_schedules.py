"""Create or correct the django-q2 schedules (hot-lead sweep, ...). Safe to run any time."""

from django.core.management.base import BaseCommand

from crm.services.schedules import schedules_sync


class Command(BaseCommand):
    help = "Create or correct the product's django-q2 schedules (idempotent)."

    def handle(self, *args, **options):
        for name, what in schedules_sync().items():
            self.stdout.write(f"{name}: {what}")

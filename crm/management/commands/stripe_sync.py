"""manage.py stripe_sync: take in Stripe events that the webhook never received."""

import stripe
from django.core.management.base import BaseCommand, CommandError

from crm.integrations.errors import ProviderError
from crm.services.billing.stripe_intake import StripeEventInvalid
from crm.services.billing.stripe_sync import stripe_events_sync


class Command(BaseCommand):
    help = ("Read events from Stripe's Events API from about an hour before the newest one stored "
            "and process those the webhook never received.")

    def add_arguments(self, parser):
        parser.add_argument("--max-pages", type=int, default=50, help="pages of 100 events to read at most")

    def handle(self, *args, max_pages: int, **options):
        try:
            counts = stripe_events_sync(max_pages=max_pages)
        except (ProviderError, stripe.StripeError, StripeEventInvalid) as exc:
            raise CommandError(f"Stripe sync failed: {exc}") from exc
        self.stdout.write(f"{counts['read']} event(s) read; {counts['stored']} new one(s) stored, "
                          f"{counts['processed']} processed.")

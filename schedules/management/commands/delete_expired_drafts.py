"""Delete schedule drafts from chat that expired (SCHEDULE_DRAFT_TTL) without being saved.

Reading or creating drafts already removes expired ones of that org; run this from cron (e.g.
daily) to clear orgs that stopped making drafts."""

from django.core.management.base import BaseCommand

from config import clock
from schedules.drafts import drafts_delete_expired


class Command(BaseCommand):
    help = "Delete expired schedule drafts."

    def handle(self, *args, **options):
        deleted = drafts_delete_expired(now=clock.now())
        self.stdout.write(f"deleted {deleted} expired schedule draft(s)")

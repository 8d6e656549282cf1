"""`manage.py backfill`: run the occurrences of a past range that never got a run.

Thin: parse, call `runs.services.backfill.schedule_backfill`, print what it did. For
operators with shell access; the same service answers the API and the "Why didn't it run?"
page.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from config import clock
from config.errors import DomainError
from runs.services.backfill import schedule_backfill
from schedules import timing
from schedules.models import Schedule
from schedules.permissions import parse_uuid


def parse_time(value: str, zone: str) -> datetime:
    """ISO 8601; a time without an offset is read in `zone` (the schedule's)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not an ISO 8601 time, e.g. 2026-12-01T09:00:00+08:00") from None
    if parsed.tzinfo is None:
        parsed = timing.wall_to_utc(parsed, timing.validate_timezone(zone))
    return parsed


class Command(BaseCommand):
    help = (
        "Queue one run (trigger 'backfill') per occurrence of a schedule in [--from, --to) that has "
        "no run yet: the occurrences missed while the scheduler was down. Idempotent: an occurrence "
        "that ran, or was backfilled already, is never run again. At most BACKFILL_MAX_RUNS per call; "
        "run it again for the rest. Audited as the system user."
    )

    def add_arguments(self, parser):
        parser.add_argument("--schedule", required=True, help="The schedule's id (a UUID).")
        time_help = (
            "ISO 8601, e.g. 2026-12-01T09:00:00+08:00. A time without an offset is read in the "
            "schedule's own time zone."
        )
        parser.add_argument("--from", dest="start", required=True, help=f"Start, inclusive. {time_help}")
        parser.add_argument("--to", dest="end", required=True, help=f"End, exclusive; not in the future. {time_help}")
        parser.add_argument("--dry-run", action="store_true", help="List what would run; queue nothing.")

    def handle(self, *args, **options):
        pk = parse_uuid(options["schedule"])
        schedule = Schedule.objects.filter(pk=pk).first() if pk else None
        if schedule is None:
            raise CommandError(f"no schedule with id '{options['schedule']}'")
        start = parse_time(options["start"], schedule.timezone)
        end = parse_time(options["end"], schedule.timezone)
        try:
            result = schedule_backfill(
                schedule=schedule, start=start, end=end, actor=Actor.system(), now=clock.now(),
                dry_run=options["dry_run"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        verb = "would run" if result.dry_run else "queued"
        self.stdout.write(
            f"{schedule.name} ({schedule.pk}): {result.expected} occurrence(s) from {start.isoformat()} "
            f"to {end.isoformat()}, {result.already_run} already had a run; {verb} {len(result.scheduled_for)}."
        )
        for when in result.scheduled_for:
            self.stdout.write(f"  {verb} {when.isoformat()}")
        if result.remaining:
            self.stdout.write(f"{result.remaining} more occurrence(s) left: run the same command again.")

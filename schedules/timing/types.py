"""The values the timing functions take and return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from config.errors import InvalidInput

CRON = "cron"
INTERVAL = "interval"
ONCE = "once"
SCHEDULE_TYPES = (CRON, INTERVAL, ONCE)


class ScheduleError(InvalidInput, ValueError):
    """A schedule's timing is invalid; `message` says what to change, `field` where.

    An `InvalidInput` (config/errors.py), so each front end maps it where it maps every
    invalid input: the API's exception handler, a form's or serializer's field validation.
    """


@dataclass(frozen=True)
class Spec:
    """Everything that decides when a schedule fires; datetimes are aware."""

    schedule_type: str
    timezone: str = "UTC"
    cron_expression: str = ""
    interval_seconds: int | None = None
    run_at: datetime | None = None
    # Active window; `start_at` is also the interval anchor when set.
    start_at: datetime | None = None
    end_at: datetime | None = None
    # Interval anchor when `start_at` is None (the schedule's created_at).
    anchor: datetime | None = None
    # A workday calendar (`calendars.py`): occurrences fire only on its working days.
    calendar: str = ""


@dataclass(frozen=True)
class CatchUp:
    """What to do with a schedule found due at `now`; see `catch_up`."""

    # The newest occurrence in [due_at, now], when it is within the catch-up window of now.
    fire_at: datetime | None
    # Occurrences in [due_at, now] that are not fired (all of them when fire_at is None).
    missed_count: int
    # The first occurrence strictly after now; None when the schedule is finished.
    next_run_at: datetime | None
    # The newest occurrence in [due_at, now], fired or not (for the "missed" run row).
    # Extra information: left out of equality so CatchUp(fire_at, missed, next) compares.
    newest_at: datetime | None = field(default=None, compare=False)

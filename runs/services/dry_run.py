"""A dry run: what the plane would receive for a schedule's next occurrence. It writes nothing.

The request is built by the same code as a real one (`bulk.run_values` through `build_run`,
then `plane.base.session_request`), so the resolved prompt, the variables and the metadata
are exactly what the scheduler would send; only the run row is never saved.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from config.errors import InvalidState
from runs import calendar_data
from runs.plane.base import session_request
from runs.services.create import build_run
from schedules import timing
from schedules.timing import calendars
from schedules.models import Schedule

# Dates whose calendar decision a dry run lists.
DECISION_DAYS = 10


def schedule_dry_run(*, schedule: Schedule, now: datetime) -> dict:
    """The next occurrence after `now`, the request the plane would get for it, its variables,
    and (with a calendar) the calendar's decision for the next DECISION_DAYS local dates.

    InvalidState when the schedule has no next occurrence (a once schedule that ran, or past
    its end).
    """
    schedule = Schedule.objects.select_related("agent", "org").get(pk=schedule.pk)
    when = timing.next_fire(schedule.timing_spec(), now)
    if when is None:
        raise InvalidState(_("this schedule has no next occurrence, so there is nothing to preview"))
    run = build_run(schedule=schedule, scheduled_for=when, now=now, calendar_note=calendar_data.occurrence_note(schedule, when))
    run.schedule, run.org = schedule, schedule.org
    request = session_request(run)
    if settings.EXECUTION_PLANE == "http":
        from runs.plane.http import callback_url

        request["callback_url"] = callback_url()
    calendar = None
    if schedule.calendar:
        first, last = calendars.get(schedule.calendar).data_range()
        today = now.astimezone(ZoneInfo(schedule.timezone)).date()
        calendar = {
            "name": schedule.calendar,
            "data_range": [first, last],
            "note": run.calendar_note,
            "decisions": timing.calendar_decisions(schedule.calendar, today, DECISION_DAYS),
        }
    return {
        "scheduled_for": when.isoformat().replace("+00:00", "Z"),
        "request": request,
        "variables": run.variables,
        "calendar": calendar,
    }

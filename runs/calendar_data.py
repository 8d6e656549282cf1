"""A workday calendar without data for an occurrence's year: mark the run, alert the org once.

The timing code decides such a date by the weekday (schedules/timing/calendars.py); this
module makes the guess visible: the run carries a note ("calendar data missing for 2027;
decided by the weekday") and the org gets one `calendar_data_missing` alert, kept open
until someone resolves it (after updating the `chinese-calendar` package).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from runs.alerts.models import AlertCause
from runs.alerts.services import alert_open, open_alert
from schedules.timing import calendars


def occurrence_note(schedule, scheduled_for: datetime) -> str:
    """The run's calendar note: "" unless the schedule's calendar has no data for the year."""
    if not schedule.calendar:
        return ""
    year = scheduled_for.astimezone(ZoneInfo(schedule.timezone)).year
    if calendars.get(schedule.calendar).covers(year):
        return ""
    return calendars.missing_note(year)


def alert_missing_data(runs, *, now: datetime) -> None:
    """Open one alert per org whose runs (with `.schedule` and `.calendar_note`) carry a note."""
    seen = set()
    for run in runs:
        org_id = run.schedule.org_id
        if not run.calendar_note or org_id in seen:
            continue
        seen.add(org_id)
        if open_alert(org_id=org_id, cause=AlertCause.CALENDAR_DATA_MISSING) is not None:
            continue
        alert_open(
            org_id=org_id,
            cause=AlertCause.CALENDAR_DATA_MISSING,
            detail=_(
                "Schedule '%(name)s' fired with calendar %(calendar)s in a year it has no data for (%(note)s). "
                "Update the calendar package; until then such days are decided by the weekday."
            )
            % {"name": run.schedule.name, "calendar": run.schedule.calendar, "note": run.calendar_note},
            now=now,
        )

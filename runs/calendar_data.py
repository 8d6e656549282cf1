"""A workday calendar without data for an occurrence's year: mark the run, alert the org once.

The timing code decides such a date by the weekday (schedules/timing/calendars.py); this
module makes the guess visible: the run carries a note ("calendar data missing for 2027;
decided by the weekday") and the org gets one `calendar_data_missing` alert, kept open
until the calendars the org's schedules use cover the current year again (the package was
updated): the scheduler's alert check resolves it (`resolve_covered`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from runs.alerts.models import Alert, AlertCause, AlertState
from runs.alerts.services import alert_raise, alerts_resolve
from runs.selectors import get_open_alert
from schedules.models import Schedule
from schedules import timing
from schedules.timing import calendars

ONE_US = timedelta(microseconds=1)


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
        if get_open_alert(org_id=org_id, cause=AlertCause.CALENDAR_DATA_MISSING) is not None:
            continue
        alert_raise(
            org_id=org_id,
            cause=AlertCause.CALENDAR_DATA_MISSING,
            detail=_(
                "Schedule '%(name)s' fired with calendar %(calendar)s in a year it has no data for (%(note)s). "
                "Update the calendar package; until then such days are decided by the weekday."
            )
            % {"name": run.schedule.name, "calendar": run.schedule.calendar, "note": run.calendar_note},
            now=now,
        )


def calendar_skips(schedule, start: datetime, end: datetime, *, limit: int) -> list[tuple[datetime, str]]:
    """The expression's occurrences in [start, end) after the schedule's creation that its
    calendar left out, oldest first (at most `limit`), each with the calendar's reason.

    Walks the plain expression, jumping over each working day whole, so a month of a
    minutely schedule costs a step per day plus the skipped fires listed.
    """
    if not schedule.calendar:
        return []
    spec = replace(schedule.timing_spec(), calendar="")
    calendar, zone = calendars.get(schedule.calendar), ZoneInfo(schedule.timezone)
    skips: list[tuple[datetime, str]] = []
    cur = max(start - ONE_US, schedule.created_at)
    while len(skips) < limit:
        cur = timing.next_fire(spec, cur)
        if cur is None or cur >= end:
            break
        day = cur.astimezone(zone).date()
        if calendar.is_workday(day):
            cur = _day_start(day + timedelta(days=1), zone) - ONE_US
            continue
        skips.append((cur, calendar.decide(day).reason))
    return skips


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return timing.wall_to_utc(datetime.combine(day, time()), zone)


def resolve_covered(*, now: datetime) -> int:
    """Resolve the open `calendar_data_missing` alerts of orgs whose enabled schedules' calendars
    all cover the current year again; returns how many. One query when none is open."""
    resolved = 0
    for alert in Alert.objects.filter(cause=AlertCause.CALENDAR_DATA_MISSING, state=AlertState.OPEN):
        names = set(
            Schedule.objects.filter(org_id=alert.org_id, enabled=True).exclude(calendar="").values_list("calendar", flat=True)
        )
        if all(_covers(name, now.year) for name in names):
            resolved += len(
                alerts_resolve(
                    Alert.objects.filter(pk=alert.pk),
                    detail=_("The workday calendars cover %(year)s again.") % {"year": now.year},
                    now=now,
                )
            )
    return resolved


def _covers(name: str, year: int) -> bool:
    try:
        return calendars.get(name).covers(year)
    except LookupError:  # a name no longer known decides nothing: not a reason to keep the alert
        return True

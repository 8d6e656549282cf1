"""What a workday calendar changes, in words: for the editor, the preview and the dry run.

- `calendar_preview`: among the next fire times, which dates the calendar added (a weekend
  made into a workday) or removed (a weekday off), compared with plain Monday-Friday, and a
  warning when the expression itself restricts the days of the week;
- `calendar_decisions`: the calendar's decision for consecutive local dates, with reasons.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from django.utils.translation import gettext

from . import calendars
from .occurrences import _utc, next_fire, next_fires
from .types import CRON, Spec
from .zones import validate_timezone

# Fires of the plain expression looked at beside the calendar's (bounds a minutely schedule).
_PLAIN_MAX = 500


def restricts_weekdays(spec: Spec) -> bool:
    """True when the cron expression names days of the week (`1-5`, `MON`, `@weekly`)."""
    if spec.schedule_type != CRON:
        return False
    expression = spec.cron_expression.strip().lower()
    if expression.startswith("@"):
        return expression == "@weekly"
    fields = expression.split()
    return len(fields) == 5 and fields[4] not in ("*", "?")


def calendar_warning(spec: Spec) -> str:
    if not (spec.calendar and restricts_weekdays(spec)):
        return ""
    return gettext(
        "the expression restricts the days of the week and the calendar %(calendar)s filters them again: "
        "a weekend made into a workday will not run. Use * for the day of the week and let the calendar decide."
    ) % {"calendar": spec.calendar}


def calendar_preview(spec: Spec, after: datetime, count: int) -> dict | None:
    """The calendar's effect on the next `count` fires after `after`; None without a calendar."""
    if not spec.calendar:
        return None
    calendar = calendars.get(spec.calendar)
    zone = validate_timezone(spec.timezone)
    fires = next_fires(spec, after, count)
    changes: dict[date, dict] = {}
    for fire in fires:
        day = fire.astimezone(zone).date()
        if day.weekday() in calendars.WEEKEND:
            changes[day] = _change(calendar, day, "added")
    if fires:
        # The expression without the calendar, over the same span: its weekdays the calendar took away.
        plain, cur, end = replace(spec, calendar=""), _utc(after, "after"), fires[-1]
        for _ in range(_PLAIN_MAX):
            cur = next_fire(plain, cur)
            if cur is None or cur > end:
                break
            day = cur.astimezone(zone).date()
            if day.weekday() not in calendars.WEEKEND and day not in changes and not calendar.is_workday(day):
                changes[day] = _change(calendar, day, "removed")
    first, last = calendar.data_range()
    return {
        "name": spec.calendar,
        "data_range": [first, last],
        "warning": calendar_warning(spec),
        "changes": [changes[day] for day in sorted(changes)],
    }


def _change(calendar: calendars.Calendar, day: date, change: str) -> dict:
    decision = calendar.decide(day)
    return {"date": day.isoformat(), "change": change, "reason": decision.reason, "missing_data": decision.missing}


def calendar_decisions(name: str, first: date, days: int = 10) -> list[dict]:
    """The decision of calendar `name` for `days` local dates from `first`, with reasons."""
    calendar = calendars.get(name)
    out = []
    for offset in range(days):
        decision = calendar.decide(first + timedelta(days=offset))
        out.append(
            {
                "date": decision.day.isoformat(),
                "workday": decision.workday,
                "reason": decision.reason,
                "missing_data": decision.missing,
            }
        )
    return out

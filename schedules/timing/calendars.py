"""Workday calendars: which local dates a schedule with a `calendar` may fire on.

The calendar filters the days the expression names: an occurrence fires only if its local
date is a working day (docs/design.md, "Workday calendars"). Two kinds:

- `cn-workdays`: the official working days of mainland China, from the `chinese-calendar`
  package: holidays are off, and the Saturdays and Sundays made into workdays (调休) are on.
- `<cc>-workdays`, optionally `<cc>-<subdivision>-workdays` (`us-workdays`, `de-by-workdays`):
  Monday to Friday minus the public holidays of ISO country `cc`, from the `holidays` package.

**Missing data is never guessed.** China publishes each year's calendar around November and
the package must be updated; a date in a year the package has no data for is decided by the
weekday (Monday to Friday), and `decide` says so (`missing`), so that the caller can mark the
run and alert the org.

Calendars are built once per process (`get`) and each year's dates once per calendar, so a
firing pass reads a schedule's calendar once, never once per date. Nothing here reads the
clock or the database.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.utils.translation import get_language, gettext, gettext_noop

from .types import ScheduleError

CHINA = "cn-workdays"
NONE = ""
_COUNTRY = re.compile(r"^(?P<country>[a-z]{2})(?:-(?P<subdiv>[a-z0-9]{1,3}))?-workdays$")
# The `holidays` package computes its dates by rule; it still names a range.
WEEKEND = (5, 6)


@dataclass(frozen=True)
class Decision:
    """Whether a local date is a working day, and why (in the active language)."""

    day: date
    workday: bool
    reason: str
    # The calendar has no data for the date's year: decided by the weekday alone.
    missing: bool = False


class Calendar:
    """One calendar: `is_workday` for the hot path, `decide` for the words."""

    name: str
    label: str

    def data_range(self) -> tuple[int, int]:  # pragma: no cover - each kind answers
        raise NotImplementedError

    def covers(self, year: int) -> bool:
        first, last = self.data_range()
        return first <= year <= last

    def is_workday(self, day: date) -> bool:
        if not self.covers(day.year):
            return day.weekday() not in WEEKEND
        return self._is_workday(day)

    def decide(self, day: date) -> Decision:
        if not self.covers(day.year):
            workday = day.weekday() not in WEEKEND
            return Decision(day, workday, missing_note(day.year), missing=True)
        workday = self._is_workday(day)
        holiday = self._holiday_name(day)
        weekend = day.weekday() in WEEKEND
        if workday and weekend:
            reason = gettext("make-up workday (%(holiday)s)") % {"holiday": holiday} if holiday else gettext("make-up workday")
        elif workday:
            reason = gettext("workday")
        elif holiday:
            reason = gettext("not a workday in %(calendar)s: %(holiday)s") % {"calendar": self.name, "holiday": holiday}
        else:
            reason = gettext("not a workday in %(calendar)s: weekend") % {"calendar": self.name}
        return Decision(day, workday, reason)

    def _is_workday(self, day: date) -> bool:  # pragma: no cover - each kind answers
        raise NotImplementedError

    def _holiday_name(self, day: date) -> str:  # pragma: no cover - each kind answers
        raise NotImplementedError


def missing_note(year: int) -> str:
    return gettext("calendar data missing for %(year)s; decided by the weekday") % {"year": year}


class ChinaCalendar(Calendar):
    name = CHINA

    def __init__(self):
        from chinese_calendar import constants

        # The package's own tables, read once: a dict lookup per date afterwards.
        self._holidays = dict(constants.holidays)
        self._workdays = dict(constants.workdays)
        self._range = (min(self._holidays).year, max(self._holidays).year)
        self.label = gettext_noop("Workdays (China, official calendar)")

    def data_range(self) -> tuple[int, int]:
        return self._range

    def _is_workday(self, day: date) -> bool:
        if day in self._workdays:
            return True
        return day not in self._holidays and day.weekday() not in WEEKEND

    def _holiday_name(self, day: date) -> str:
        holiday = self._holidays.get(day) or self._workdays.get(day)
        if holiday is None:
            return ""
        return _china_holiday_words(holiday)


def _china_holiday_words(english: str) -> str:
    """The holiday's name in the active language (the package knows both)."""
    if (get_language() or "").lower().startswith("zh"):
        from chinese_calendar import Holiday

        for holiday in Holiday:
            if holiday.value == english:
                return holiday.chinese
    return english


class CountryCalendar(Calendar):
    def __init__(self, name: str, country: str, subdiv: str | None):
        import holidays

        self.name, self.label = name, name
        self._factory = lambda years: holidays.country_holidays(country.upper(), subdiv=subdiv and subdiv.upper(), years=years)
        probe = self._factory([])
        self._range = (getattr(probe, "start_year", 1), getattr(probe, "end_year", 9999))
        self._years: dict[int, dict[date, str]] = {}
        self._lock = threading.Lock()

    def data_range(self) -> tuple[int, int]:
        return self._range

    def _year(self, year: int) -> dict[date, str]:
        found = self._years.get(year)
        if found is None:
            # Built once per year under a lock: the package's object fills itself in lazily,
            # which threads (web requests, the scheduler) must not do at the same time.
            with self._lock:
                found = self._years.get(year)
                if found is None:
                    found = self._years[year] = dict(self._factory([year]).items())
        return found

    def _is_workday(self, day: date) -> bool:
        return day.weekday() not in WEEKEND and day not in self._year(day.year)

    def _holiday_name(self, day: date) -> str:
        return self._year(day.year).get(day, "")


def validate_calendar(name: str | None) -> str:
    """The calendar's canonical name ("" for none); ScheduleError naming `calendar` otherwise."""
    name = (name or "").strip().lower()
    if not name:
        return NONE
    try:
        get(name)
    except LookupError as exc:
        raise ScheduleError("calendar", str(exc)) from None
    return name


@lru_cache(maxsize=64)
def _build(name: str) -> Calendar:
    if name == CHINA:
        return ChinaCalendar()
    match = _COUNTRY.match(name)
    if match is None:
        raise LookupError(
            gettext("unknown calendar '%(name)s': use cn-workdays, or <country>-workdays such as us-workdays or de-by-workdays")
            % {"name": name}
        )
    import holidays

    country, subdiv = match["country"], match["subdiv"]
    supported = holidays.list_supported_countries()
    if country.upper() not in supported:
        raise LookupError(gettext("no public holidays are known for country '%(country)s'") % {"country": country})
    if subdiv and subdiv.upper() not in supported[country.upper()]:
        raise LookupError(
            gettext("'%(subdiv)s' is not a subdivision of '%(country)s'; known: %(known)s")
            % {"subdiv": subdiv, "country": country, "known": ", ".join(s.lower() for s in supported[country.upper()])}
        )
    return CountryCalendar(name, country, subdiv)


def get(name: str) -> Calendar:
    """The calendar named `name` (built once per process); LookupError when there is none."""
    return _build(name.strip().lower())


PRESETS = (CHINA, "us-workdays", "gb-workdays", "de-workdays", "jp-workdays", "sg-workdays")

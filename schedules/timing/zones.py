"""Time zones: validating names, and mapping local wall-clock times to UTC instants.

Only public `zoneinfo` API is used. Offset transitions are found by sampling
`utcoffset()` and bisecting to the second, once per (zone, year), and cached.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from bisect import bisect_right
from datetime import MAXYEAR, MINYEAR, datetime, timedelta, timezone
from functools import lru_cache

from django.utils.translation import gettext

from .types import ScheduleError

UTC = timezone.utc
ONE_US = timedelta(microseconds=1)

# Zones that never change offset; they skip the gap/overlap checks on the hot path.
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
                       "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0",
                       "Etc/Greenwich", "Greenwich"})

# In the zone database but not a place: "localtime" is whatever the server is set to and
# "Factory" means "local time is unknown". A schedule must not change meaning with the host.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
# "GMT+8", "UTC-05:00", "+0530": an offset typed as a zone name.
_OFFSET_NAME = re.compile(r"^(?:UTC|GMT|Z)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
# A city for each standard offset, to suggest for an offset typed as a name.
_CITY_AT_OFFSET = {
    -660: "Pacific/Pago_Pago", -600: "Pacific/Honolulu", -570: "Pacific/Marquesas", -540: "America/Anchorage",
    -480: "America/Los_Angeles", -420: "America/Denver", -360: "America/Chicago", -300: "America/New_York",
    -240: "America/Halifax", -210: "America/St_Johns", -180: "America/Sao_Paulo", -120: "America/Noronha",
    -60: "Atlantic/Azores", 0: "Europe/London", 60: "Europe/Paris", 120: "Europe/Athens", 180: "Europe/Moscow",
    210: "Asia/Tehran", 240: "Asia/Dubai", 270: "Asia/Kabul", 300: "Asia/Karachi", 330: "Asia/Kolkata",
    345: "Asia/Kathmandu", 360: "Asia/Dhaka", 390: "Asia/Yangon", 420: "Asia/Bangkok", 480: "Asia/Shanghai",
    525: "Australia/Eucla", 540: "Asia/Tokyo", 570: "Australia/Darwin", 600: "Australia/Brisbane",
    660: "Pacific/Noumea", 720: "Pacific/Auckland", 765: "Pacific/Chatham", 780: "Pacific/Tongatapu",
    840: "Pacific/Kiritimati",
}

# Sampling step when looking for offset changes. No zone changes its offset twice within
# six hours, so a change and its reversal cannot hide between two samples.
_SCAN_STEP = 6 * 3600


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Lower-cased name -> canonical name, for every zone this machine knows that is a place."""
    return {name.lower(): name for name in zoneinfo.available_timezones() - _NOT_PLACES}


def offset_text(offset: timedelta | None, *, signed: bool = False) -> str:
    """A UTC offset as the pages and messages write it: "UTC+08:00", "UTC-05:30", "UTC".

    `signed`: a zero offset reads "UTC+00:00" too, where it tells one of two equal wall times
    from the other (the fall-back hour: "01:30 (UTC+01:00)", then "01:30 (UTC+00:00)")."""
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if not minutes and not signed:
        return "UTC"
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _offset_message(name: str) -> str | None:
    """For "GMT+8", the message naming the fixed-offset zone (whose sign is inverted) or a
    city at that offset. None when `name` is not an offset."""
    match = _OFFSET_NAME.match(name.strip())
    if not match:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    offset = (1 if sign == "+" else -1) * (hours * 60 + minutes)
    values = {"name": name, "offset": offset_text(timedelta(minutes=offset)), "city": _CITY_AT_OFFSET.get(offset)}
    if offset == 0:
        return gettext("unknown time zone '%(name)s'; did you mean 'UTC'?") % values
    if minutes == 0 and -12 <= offset // 60 <= 14:
        values["fixed"] = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        if values["city"]:
            return gettext(
                "unknown time zone '%(name)s'; did you mean '%(fixed)s' (%(offset)s all year; "
                "Etc/GMT names invert the sign) or a city's zone such as '%(city)s'?"
            ) % values
        return gettext(
            "unknown time zone '%(name)s'; did you mean '%(fixed)s' (%(offset)s all year; Etc/GMT names invert the sign)?"
        ) % values
    if values["city"]:
        return gettext("unknown time zone '%(name)s'; did you mean a city's zone such as '%(city)s' (%(offset)s)?") % values
    return gettext("unknown time zone '%(name)s': use a city's zone such as 'Asia/Shanghai' rather than an offset") % values


def _suggestion(name: str) -> str | None:
    names = _zone_names()
    lowered = name.strip().lower().replace(" ", "_")
    if lowered in names:
        return names[lowered]
    close = difflib.get_close_matches(lowered, names.keys(), n=1, cutoff=0.75)
    if close:
        return names[close[0]]
    # "Shanghai" or "new york" alone: match the city part of the names.
    cities: dict[str, str] = {}
    for key, canonical in names.items():
        cities.setdefault(key.rsplit("/", 1)[-1], canonical)
    close = difflib.get_close_matches(lowered.rsplit("/", 1)[-1], cities.keys(), n=1, cutoff=0.8)
    return cities[close[0]] if close else None


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    # Only names from the zone list reach ZoneInfo, so a crafted name can never make it
    # open an arbitrary file.
    canonical = _zone_names().get(name.lower())
    if canonical != name:
        if not name.strip():
            raise ScheduleError(
                "timezone", gettext("time zone is required: use an IANA name such as 'Asia/Shanghai' or 'UTC'")
            )
        if name.lower() in {n.lower() for n in _NOT_PLACES}:
            raise ScheduleError(
                "timezone",
                gettext(
                    "time zone '%(name)s' is not a place, and its meaning depends on the server: "
                    "use an IANA name such as 'Asia/Shanghai' or 'UTC'"
                ) % {"name": name},
            )
        offset_message = _offset_message(name)
        if offset_message:
            raise ScheduleError("timezone", offset_message)
        hint = _suggestion(name)
        if hint:
            raise ScheduleError(
                "timezone", gettext("unknown time zone '%(name)s'; did you mean '%(hint)s'?") % {"name": name, "hint": hint}
            )
        raise ScheduleError(
            "timezone",
            gettext("unknown time zone '%(name)s': use an IANA name such as 'Asia/Shanghai' or 'UTC'") % {"name": name},
        )
    return zoneinfo.ZoneInfo(name)


def validate_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called `name` (an IANA name, exact case), or a ScheduleError with a suggestion."""
    if not isinstance(name, str):
        raise ScheduleError("timezone", gettext("time zone must be a name such as 'Asia/Shanghai'"))
    return _zone(name)


def is_utc(zone: zoneinfo.ZoneInfo) -> bool:
    return zone.key in _UTC_KEYS


def _offset_at(zone: zoneinfo.ZoneInfo, ts: int) -> timedelta:
    return datetime.fromtimestamp(ts, zone).utcoffset()


@lru_cache(maxsize=8192)
def _year_transitions(zone: zoneinfo.ZoneInfo, year: int) -> tuple[int, ...]:
    """POSIX timestamps in the UTC year `year` at which `zone`'s offset changes.

    Any year datetime can hold: zoneinfo extends a zone's rules past its last listed
    transition (its POSIX TZ string), and the API accepts dates up to 2999.
    """
    if not MINYEAR < year < MAXYEAR:  # the scan needs the years on both sides
        return ()
    ts = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    offset = _offset_at(zone, ts)
    found = []
    while ts < end:
        probe = min(ts + _SCAN_STEP, end)
        probe_offset = _offset_at(zone, probe)
        if probe_offset == offset:
            ts = probe
            continue
        lo, hi = ts, probe  # offset(lo) == offset != offset(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_at(zone, mid) == offset:
                lo = mid
            else:
                hi = mid
        found.append(hi)
        ts, offset = hi, _offset_at(zone, hi)
    return tuple(found)


def next_transition(zone: zoneinfo.ZoneInfo, after: datetime, until: datetime) -> datetime | None:
    """The first instant T with after < T <= until at which `zone` changes offset (UTC in and out)."""
    after_ts = after.timestamp()
    until_ts = until.timestamp()
    for year in range(after.year, until.year + 1):
        found = _year_transitions(zone, year)
        i = bisect_right(found, after_ts)
        if i < len(found):
            return datetime.fromtimestamp(found[i], UTC) if found[i] <= until_ts else None
    return None


def wall_to_utc(wall: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant a naive local wall-clock time names, as a fixed-time cron job reads it.

    A time that occurs twice (fall back) means its first occurrence (fold=0). A time that
    does not exist (spring forward) means the first instant after the gap, which is the
    transition itself (02:30 in New York on 2026-03-08 -> 03:00 EDT = 07:00Z).
    """
    if zone.key in _UTC_KEYS:
        return wall.replace(tzinfo=UTC)
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=1 reads the wall time with the offset after the change, which lands
    # before the change; fold=0 lands after it. The change lies between the two.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    change = next_transition(zone, before, instant)
    return change if change is not None else instant

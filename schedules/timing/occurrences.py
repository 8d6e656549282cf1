"""When a schedule fires: validation, next fire times, and catch-up after downtime.

All instants in and out are aware; results are in UTC. Cron expressions are evaluated on
local wall-clock time (see `cron.py`) and mapped to UTC here, following Debian cron's
daylight-saving rules (docs/design.md, section 3).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext, ngettext

from . import calendars
from .cron import CronExpr, NaiveMatcher, compile_cron, validate_cron
from .types import CRON, INTERVAL, ONCE, SCHEDULE_TYPES, CatchUp, ScheduleError, Spec
from .zones import ONE_US, UTC, is_utc, next_transition, validate_timezone, wall_to_utc

# Bounds on loops that must end; reaching one means a bug, not a slow schedule.
_MAX_SKIPS = 10_000
_MAX_SEGMENTS = 1_000
# Below this many occurrences a catch-up just walks them; above, it counts by day.
_WALK = 64


# --- local date-times -------------------------------------------------------------------

LOCAL_FIELDS = ("run_at", "start_at", "end_at")


def read_local_times(spec: Spec) -> Spec:
    """`spec` with each naive run_at, start_at and end_at read as wall-clock time in its zone.

    A date-time without an offset is what a person types into a form, so it means local time
    (docs/design.md, section 3): a time inside a gap becomes the first instant after it, a
    repeated time its first occurrence. Aware values are kept. With an unknown zone the spec
    is returned as is, for `validate_spec` to name the zone.
    """
    naive = {name: getattr(spec, name) for name in LOCAL_FIELDS}
    naive = {name: value for name, value in naive.items() if isinstance(value, datetime) and value.tzinfo is None}
    if not naive:
        return spec
    try:
        zone = validate_timezone(spec.timezone)
    except ScheduleError:
        return spec
    return replace(spec, **{name: wall_to_utc(value, zone) for name, value in naive.items()})


# --- validation -------------------------------------------------------------------------


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_seconds(seconds: int) -> str:
    units = (
        (86400, lambda n: ngettext("%(count)d day", "%(count)d days", n)),
        (3600, lambda n: ngettext("%(count)d hour", "%(count)d hours", n)),
        (60, lambda n: ngettext("%(count)d minute", "%(count)d minutes", n)),
        (1, lambda n: ngettext("%(count)d second", "%(count)d seconds", n)),
    )
    for size, words in units:
        if seconds % size == 0:
            n = seconds // size
            return words(n) % {"count": n}


def _require_aware(value: datetime | None, field: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ScheduleError(
            field, gettext("%(field)s must be a date and time with a time zone offset") % {"field": field}
        )


def validate_spec(
    spec: Spec, *, now: datetime, min_interval: int = 60, max_interval: int = 366 * 86400
) -> None:
    """Raise ScheduleError for the first thing wrong with `spec`; `now` decides what is past.

    The messages are in the active language: a page shows them beside the field.
    """
    if spec.schedule_type not in SCHEDULE_TYPES:
        raise _unknown_type(spec.schedule_type)
    validate_timezone(spec.timezone)
    for field in ("run_at", "start_at", "end_at"):
        _require_aware(getattr(spec, field), field)
    if spec.schedule_type == CRON:
        if not (spec.cron_expression or "").strip():
            raise ScheduleError(
                "cron_expression", gettext("a cron schedule needs a cron expression, e.g. '0 9 * * 1-5'")
            )
        validate_cron(spec.cron_expression)
    elif spec.schedule_type == INTERVAL:
        seconds = spec.interval_seconds
        if seconds is None:
            raise ScheduleError("interval_seconds", gettext("an interval schedule needs interval_seconds"))
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise ScheduleError("interval_seconds", gettext("interval must be a whole number of seconds"))
        if seconds < min_interval:
            raise ScheduleError(
                "interval_seconds", gettext("interval must be at least %(seconds)s seconds") % {"seconds": min_interval}
            )
        if seconds > max_interval:
            raise ScheduleError(
                "interval_seconds",
                gettext("interval must be at most %(seconds)s seconds (%(words)s)")
                % {"seconds": max_interval, "words": _human_seconds(max_interval)},
            )
    elif spec.schedule_type == ONCE:
        if spec.run_at is None:
            raise ScheduleError("run_at", gettext("a one-time schedule needs run_at"))
        if spec.run_at <= now:
            raise ScheduleError("run_at", gettext("run_at %(run_at)s is in the past") % {"run_at": _iso_z(spec.run_at)})
        if spec.end_at is not None and spec.run_at > spec.end_at:
            raise ScheduleError(
                "run_at",
                gettext("run_at %(run_at)s is after end_at %(end_at)s, so it would never run")
                % {"run_at": _iso_z(spec.run_at), "end_at": _iso_z(spec.end_at)},
            )
        if spec.start_at is not None and spec.run_at < spec.start_at:
            raise ScheduleError(
                "run_at",
                gettext("run_at %(run_at)s is before start_at %(start_at)s, so it would never run")
                % {"run_at": _iso_z(spec.run_at), "start_at": _iso_z(spec.start_at)},
            )
    if spec.calendar:
        if spec.schedule_type == ONCE:
            raise ScheduleError(
                "calendar", gettext("a one-time schedule cannot have a calendar: it fires at run_at, whatever the day")
            )
        calendars.validate_calendar(spec.calendar)
    if spec.start_at is not None and spec.end_at is not None and spec.end_at <= spec.start_at:
        raise ScheduleError(
            "end_at",
            gettext("end_at %(end_at)s must be after start_at %(start_at)s")
            % {"end_at": _iso_z(spec.end_at), "start_at": _iso_z(spec.start_at)},
        )


def _unknown_type(kind) -> ScheduleError:
    return ScheduleError(
        "schedule_type",
        gettext("schedule type '%(type)s' is not one of %(types)s")
        % {"type": kind, "types": ", ".join(SCHEDULE_TYPES)},
    )


# --- cron in local time -----------------------------------------------------------------


def _next_fixed(matcher: NaiveMatcher, zone: ZoneInfo, after: datetime) -> datetime | None:
    """Fixed-time expressions: each matching wall time fires once (see `wall_to_utc`)."""
    wall = after.astimezone(zone).replace(tzinfo=None)
    for _ in range(_MAX_SKIPS):
        wall = matcher.next_after(wall)
        if wall is None:
            return None
        instant = wall_to_utc(wall, zone)
        # Skipped when `after` is in the second pass of a repeated hour (the wall time's
        # first occurrence is already past) or at the end of a gap it was moved to.
        if instant > after:
            return instant
    raise RuntimeError(f"no fire time found after {after.isoformat()} within {_MAX_SKIPS} matches")


def _next_wild(matcher: NaiveMatcher, zone: ZoneInfo, after: datetime) -> datetime | None:
    """Wildcard expressions: every real instant whose local time matches fires.

    Between two offset changes local time is UTC plus a constant, so the first match of
    that stretch is the first naive match mapped back; if it lies past the next change,
    the search restarts from the change with the new offset.
    """
    cur, inclusive = after, False
    for _ in range(_MAX_SEGMENTS):
        local = cur.astimezone(zone)
        wall = local.replace(tzinfo=None)
        match = matcher.next_after(wall - ONE_US if inclusive else wall)
        if match is None:
            return None
        instant = (match - local.utcoffset()).replace(tzinfo=UTC)
        change = next_transition(zone, cur, instant)
        if change is None:
            return instant
        cur, inclusive = change, True
    raise RuntimeError(f"no fire time found after {after.isoformat()} within {_MAX_SEGMENTS} offset changes")


def _cron_next(expr: CronExpr, matcher: NaiveMatcher, zone: ZoneInfo, after: datetime) -> datetime | None:
    if is_utc(zone):
        match = matcher.next_after(after.replace(tzinfo=None))
        return None if match is None else match.replace(tzinfo=UTC)
    if expr.wildcard:
        return _next_wild(matcher, zone, after)
    return _next_fixed(matcher, zone, after)


# --- all types --------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _interval_grid(spec: Spec, fallback: datetime) -> tuple[datetime, timedelta]:
    seconds = spec.interval_seconds
    if not isinstance(seconds, int) or seconds <= 0:
        raise ScheduleError("interval_seconds", gettext("an interval schedule needs a positive interval_seconds"))
    anchor = spec.start_at or spec.anchor
    # Before the schedule is saved there is no creation time: count from `fallback`.
    anchor = fallback if anchor is None else _utc(anchor, "anchor")
    # Whole seconds, so fire times (and the run ids derived from them) read cleanly.
    return anchor.replace(microsecond=0), timedelta(seconds=seconds)


def _next_unbounded(spec: Spec, after: datetime) -> datetime | None:
    """The first fire strictly after `after` (UTC), ignoring end_at."""
    if spec.start_at is not None:
        start = _utc(spec.start_at, "start_at")
        if after < start:
            after = start - ONE_US
    kind = spec.schedule_type
    if kind == CRON:
        expr, matcher = compile_cron(spec.cron_expression)
        return _cron_next(expr, matcher, validate_timezone(spec.timezone), after)
    if kind == INTERVAL:
        anchor, step = _interval_grid(spec, after)
        if after < anchor:
            return anchor
        return anchor + ((after - anchor) // step + 1) * step
    if kind == ONCE:
        if spec.run_at is None:
            raise ScheduleError("run_at", gettext("a one-time schedule needs run_at"))
        run_at = _utc(spec.run_at, "run_at")
        return run_at if run_at > after else None
    raise _unknown_type(kind)


def _next_workday_fire(spec: Spec, after: datetime) -> datetime | None:
    """`_next_unbounded`, on the calendar's working days only.

    A fire on a day off moves the search to the start of the next local day, so a holiday
    week of a minutely schedule costs a few steps, not thousands.
    """
    fire = _next_unbounded(spec, after)
    if not spec.calendar:
        return fire
    calendar, zone = calendars.get(spec.calendar), validate_timezone(spec.timezone)
    for _ in range(_MAX_SKIPS):
        if fire is None:
            return None
        day = fire.astimezone(zone).date()
        if calendar.is_workday(day):
            return fire
        fire = _next_unbounded(spec, _day_start(day + timedelta(days=1), zone) - ONE_US)
    raise RuntimeError(f"no working day found after {after.isoformat()} within {_MAX_SKIPS} days")


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant `day` starts in `zone` (its 00:00, or the end of a gap that swallows it)."""
    return wall_to_utc(datetime.combine(day, time()), zone)


def next_fire(spec: Spec, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in UTC; None when the schedule is finished."""
    fire = _next_workday_fire(spec, _utc(after, "after"))
    if fire is not None and spec.end_at is not None and fire > _utc(spec.end_at, "end_at"):
        return None
    return fire


def next_fires(spec: Spec, after: datetime, count: int) -> list[datetime]:
    """Up to `count` fire times after `after`, in order."""
    fires: list[datetime] = []
    fire = _utc(after, "after")
    while len(fires) < count:
        fire = next_fire(spec, fire)
        if fire is None:
            break
        fires.append(fire)
    return fires


# --- catch-up ---------------------------------------------------------------------------


def _count_cron_range(spec: Spec, lo: datetime, hi: datetime, cap: int) -> int:
    """How many fires lie in [lo, hi), up to `cap`, without visiting each one.

    A local day with no offset change from its first instant to its end holds exactly
    minutes x hours fires if the day matches, and none otherwise; other days are walked.
    A change at the very start counts: the fixed times of a gap that ends there (all of
    Pacific/Apia's missing 2011-12-30) fire at that instant.
    """
    expr, matcher = compile_cron(spec.cron_expression)
    zone = validate_timezone(spec.timezone)

    calendar = calendars.get(spec.calendar) if spec.calendar else None

    def step(cur: datetime) -> datetime | None:
        return _cron_next(expr, matcher, zone, cur) if calendar is None else _next_workday_fire(spec, cur)

    def walk(a: datetime, b: datetime, limit: int) -> int:
        n, cur = 0, a - ONE_US
        while n < limit:
            cur = step(cur)
            if cur is None or cur >= b:
                break
            n += 1
        return n

    first_day = lo.astimezone(zone).date()
    last_day = hi.astimezone(zone).date()
    if (last_day - first_day).days <= 2:
        return walk(lo, hi, cap)

    def boundary(day: date) -> datetime:
        return _day_start(day, zone)

    day = first_day + timedelta(days=1)
    start = boundary(day)
    if start < lo:  # cannot happen for real zones; stay exact if it does
        return walk(lo, hi, cap)
    n = walk(lo, start, cap)
    while day < last_day and n < cap:
        end = boundary(day + timedelta(days=1))
        if next_transition(zone, start - ONE_US, end) is None:
            n += expr.fires_per_day if expr.day_matches(day) and (calendar is None or calendar.is_workday(day)) else 0
        else:
            n += walk(start, end, cap - n)
        day, start = day + timedelta(days=1), end
    if n < cap:
        n += walk(start, hi, cap - n)
    return min(n, cap)


def _count_interval_workdays(spec: Spec, lo: datetime, hi: datetime, cap: int) -> int:
    """How many interval fires on the calendar's working days lie in [lo, hi), up to `cap`:
    the grid points of each working day, counted by arithmetic, day by day."""
    anchor, step = _interval_grid(spec, lo)
    zone, calendar = validate_timezone(spec.timezone), calendars.get(spec.calendar)

    def grid(a: datetime, b: datetime) -> int:
        a = max(a, anchor)
        if b <= a:
            return 0
        first = -((anchor - a) // step)  # ceil((a - anchor) / step)
        last = -((anchor - b) // step) - 1
        return max(0, last - first + 1)

    n, day = 0, lo.astimezone(zone).date()
    start = lo
    while start < hi and n < cap:
        end = min(hi, _day_start(day + timedelta(days=1), zone))
        if calendar.is_workday(day):
            n += grid(start, end)
        day, start = day + timedelta(days=1), end
    return min(n, cap)


def _newest_at_or_before(spec: Spec, lo: datetime, hi: datetime) -> datetime:
    """The last fire in (lo, hi], which must hold at least one: a bisection on next_fire."""
    # next_fire(t) <= hi holds for t = lo and fails for t = hi; find where it flips.
    a, b = lo, hi
    while b - a > ONE_US:
        mid = a + (b - a) / 2
        fire = next_fire(spec, mid)
        if fire is not None and fire <= hi:
            a = mid
        else:
            b = mid
    return next_fire(spec, a)


def catch_up(
    spec: Spec, due_at: datetime, now: datetime, window_seconds: int, *, max_count: int = 100_000
) -> CatchUp:
    """Decide what a schedule due at `due_at` (its stored next_run_at) does at `now`.

    The occurrences are `due_at` and every fire in (due_at, now]. The newest fires if it is
    within `window_seconds` of now; the others are counted as missed. Cron counts stop at
    `max_count`; interval counts are exact arithmetic.
    """
    due_at, now = _utc(due_at, "due_at"), _utc(now, "now")
    if due_at > now:
        return CatchUp(fire_at=None, missed_count=0, next_run_at=due_at, newest_at=None)

    count, newest, following = 1, due_at, None
    kind = spec.schedule_type
    if kind == INTERVAL and not spec.calendar:
        end = now
        if spec.end_at is not None:
            end = min(end, _utc(spec.end_at, "end_at"))
        anchor, step = _interval_grid(spec, due_at)
        if end > due_at:
            # Grid points anchor + k*step (k >= 0) in (due_at, end].
            k_end = (end - anchor) // step
            k_due = max((due_at - anchor) // step, -1)
            if k_end > k_due:
                count += k_end - k_due
                newest = anchor + k_end * step
        following = next_fire(spec, now)
    elif kind in (CRON, INTERVAL):
        cur = due_at
        for _ in range(_WALK):
            following = next_fire(spec, cur)
            if following is None or following > now:
                break
            count, newest, cur = count + 1, following, following
        else:
            lo = due_at
            hi = now
            if spec.start_at is not None:
                lo = max(lo, _utc(spec.start_at, "start_at") - ONE_US)
            if spec.end_at is not None:
                hi = min(hi, _utc(spec.end_at, "end_at"))
            # Fires in (lo, hi] are the fires in [lo + 1us, hi + 1us).
            counter = _count_cron_range if kind == CRON else _count_interval_workdays
            count = 1 + counter(spec, lo + ONE_US, hi + ONE_US, max(max_count - 1, 0))
            newest = _newest_at_or_before(spec, due_at, now)
            following = next_fire(spec, now)
        count = min(count, max_count)
    else:
        following = next_fire(spec, now)

    fire_at = newest if (now - newest).total_seconds() <= window_seconds else None
    return CatchUp(
        fire_at=fire_at,
        missed_count=count - (1 if fire_at is not None else 0),
        next_run_at=following,
        newest_at=newest,
    )

"""Property tests: schedules.timing against cronsim, an independent cron implementation.

cronsim (healthchecks' cron library) follows Debian cron's daylight-saving rules; our
module must not use it, so it serves as the oracle. The one place where cronsim is not
followed (a wildcard job in a zone whose offset changes by half an hour or at xx:45) is
checked minute by minute instead (see `test_next_fires_agree_with_cronsim`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim, CronSimError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schedules import timing
from schedules.timing import ScheduleError, Spec
from tests.constants import UTC

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # daylight saving moves the clock by 30 minutes
    "Pacific/Chatham",  # changes at 02:45 / 03:45 local time
    "UTC",
]
# Zones whose offset changes are not whole hours at whole local hours.
ODD_ZONES = {"Australia/Lord_Howe", "Pacific/Chatham"}
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MAX_STEP = (59, 23, 30, 11, 6)
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
FIRES = 8
SCANNED = 60
PROPERTY = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- strategies -----------------------------------------------------------------------------


def _item(i: int, r: int) -> str:
    """One list item of field `i`, decoded from one integer (shrinks towards the field's minimum)."""
    lo, hi = BOUNDS[i]
    r, kind = divmod(r, 7 if i in (3, 4) else 5)
    r, a = divmod(r, hi - lo + 1)
    r, b = divmod(r, hi - lo + 1)
    r, step = divmod(r, MAX_STEP[i])
    a, b, step = lo + min(a, b), lo + max(a, b), step + 1
    if kind == 0:
        return str(a)
    if kind == 1:
        return f"{a}-{b}"
    if kind == 2:
        return f"*/{step}"
    if kind == 3:
        # A stepped range with start < end: cronsim reads a one-value range with a step
        # ("5-5/2") as "5/2" (from 5 to the end of the field); crontab(5) and we read it
        # as just 5. That parsing quirk is not what this test is about.
        a = min(a, hi - 1)
        return f"{a}-{max(b, a + 1)}/{step}"
    if kind == 4:
        return f"{a}/{step}"
    names = MONTHS if i == 3 else DAYS
    x, y = sorted((r % len(names), r // len(names) % len(names)))
    return names[x] if kind == 5 else f"{names[x]}-{names[y]}"


@st.composite
def field(draw, i: int) -> str:
    # Few, plain integer draws: nested one_of/map strategies cost milliseconds per expression.
    shape = draw(st.integers(0, 59))
    if shape % 3 == 0:
        return "*"
    count = shape // 3 % 4 if i == 2 else 1 + shape // 3 % 3
    items = [_item(i, draw(st.integers(0, 2**40))) for _ in range(count)]
    if i == 2 and (not items or shape >= 45):
        items.append("L")
    return ",".join(items)


def accepted(expr: str) -> bool:
    """Whether we accept `expr`. Refusing what cronsim accepts fails the test: every draw is
    valid cron syntax, and the only ones to refuse are those that never fire (the 30th in
    February only), which cronsim refuses too."""
    try:
        timing.validate_cron(expr)
    except ScheduleError as exc:
        try:
            CronSim(expr, datetime(2026, 1, 1))
        except CronSimError:
            return False
        raise AssertionError(f"{expr!r} is valid cron (cronsim accepts it), but was refused: {exc}") from None
    return True


@st.composite
def cron_expressions(draw) -> str:
    expr = " ".join(draw(field(i)) for i in range(5))
    assume(accepted(expr))
    return expr


@cache
def offset_changes(zone: str) -> tuple[datetime, ...]:
    """Instants (to the minute) where the zone's offset changes, 2020-2035; found by a plain
    daily scan, independently of the module under test. Used to aim start times."""
    tz = ZoneInfo(zone)
    found = []
    t, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t < end:
        nxt = t + timedelta(days=1)
        nxt_offset = nxt.astimezone(tz).utcoffset()
        if nxt_offset != offset:
            lo, hi = t, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == offset else (lo, mid)
            found.append(hi.replace(second=0, microsecond=0))
        t, offset = nxt, nxt_offset
    return tuple(found)


@st.composite
def start_times(draw, zone: str) -> datetime:
    changes = offset_changes(zone)
    if changes and draw(st.integers(0, 4)) > 0:
        # Most starts fall in the 36 hours around a daylight-saving change.
        change = draw(st.sampled_from(changes))
        seconds = draw(st.integers(-30 * 3600, 6 * 3600))
        return change + timedelta(seconds=seconds, microseconds=draw(st.integers(0, 999_999)))
    naive = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)))
    return naive.replace(tzinfo=UTC)


def is_wildcard(expr: str) -> bool:
    """Debian cron's wildcard job: the minute or the hour field starts with `*`."""
    minute, hour = expr.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


# --- oracles --------------------------------------------------------------------------------


def cronsim_fires(expr: str, zone: str, start: datetime, count: int) -> list[datetime]:
    tz = ZoneInfo(zone)
    it = CronSim(expr, start.astimezone(tz))
    fires = []
    for local in it:
        fire = local.astimezone(UTC)
        # In fixed-time mode cronsim starts from the wall time of `start`, so inside the
        # second pass of a repeated hour it yields first-pass times, before `start`.
        if fire > start:
            fires.append(fire)
            if len(fires) == count:
                break
    return fires


def scanned_fires(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every UTC minute in (start, end] whose local wall time matches: the plain meaning of
    "each real occurrence fires", checked with cronsim's parsed fields."""
    tz = ZoneInfo(zone)
    parsed = CronSim(expr, start)
    fires = []
    t = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while t <= end:
        wall = t.astimezone(tz)
        if (
            wall.minute in parsed.minutes
            and wall.hour in parsed.hours
            and wall.month in parsed.months
            and parsed.match_day(wall.date())
        ):
            fires.append(t)
        t += timedelta(minutes=1)
    return fires


def fires_until(spec: Spec, start: datetime, end: datetime) -> list[datetime]:
    fires, fire = [], start
    while (fire := timing.next_fire(spec, fire)) is not None and fire <= end:
        fires.append(fire)
    return fires


# --- properties -----------------------------------------------------------------------------


@settings(PROPERTY, max_examples=2000)
@given(expr=cron_expressions(), zone=st.sampled_from(ZONES), data=st.data())
def test_next_fires_agree_with_cronsim(expr, zone, data):
    start = data.draw(start_times(zone), label="start")
    spec = Spec(schedule_type="cron", timezone=zone, cron_expression=expr)
    if zone in ODD_ZONES and is_wildcard(expr):
        # cronsim's wildcard mode moves by whole hours from a truncated time and jumps
        # straight to the next wanted minute; after a 30-minute shift (Lord Howe) or a
        # change at xx:45 (Chatham) that skips real occurrences, e.g. `53 * * * *` at
        # 02:53 on Lord Howe's first daylight-saving morning. The design says every real
        # occurrence fires, so these are checked minute by minute, around a change.
        change = min(offset_changes(zone), key=lambda c: abs(c - start))
        start = change - timedelta(seconds=data.draw(st.integers(0, 3 * 3600), label="before change"))
        end = start + timedelta(hours=6)
        ours = [f for f in timing.next_fires(spec, start, SCANNED) if f <= end]
        assert ours == scanned_fires(expr, zone, start, end)[:SCANNED]
        return
    assert timing.next_fires(spec, start, FIRES) == cronsim_fires(expr, zone, start, FIRES)


@settings(PROPERTY, max_examples=500)
@given(expr=cron_expressions(), zone=st.sampled_from(ZONES), data=st.data())
def test_fire_times_strictly_increase(expr, zone, data):
    start = data.draw(start_times(zone), label="start")
    spec = Spec(schedule_type="cron", timezone=zone, cron_expression=expr)
    fires = timing.next_fires(spec, start, FIRES)
    assert all(a < b for a, b in zip([start, *fires], fires))
    assert all(f.tzinfo is UTC and f.second == 0 and f.microsecond == 0 for f in fires)
    # Each fire is the answer for any moment just before it.
    assert all(timing.next_fire(spec, f - timedelta(microseconds=1)) == f for f in fires)


def sparse_field(i: int) -> st.SearchStrategy[str]:
    lo, hi = BOUNDS[i]
    return st.lists(st.integers(lo, hi), min_size=1, max_size=4, unique=True).map(
        lambda values: ",".join(map(str, values))
    )


@settings(PROPERTY, max_examples=300)
@given(
    expr=st.tuples(
        sparse_field(0),
        st.one_of(st.just("*"), sparse_field(1)),
        st.one_of(st.just("*"), st.just("*"), field(2)),
        st.one_of(st.just("*"), field(3)),
        st.one_of(st.just("*"), field(4)),
    ).map(" ".join),
    zone=st.sampled_from(ZONES),
    days=st.floats(0, 9),
    data=st.data(),
)
def test_catch_up_counts_what_walking_finds(expr, zone, days, data):
    # Long gaps are counted a day at a time; walking every fire must give the same count.
    assume(accepted(expr))
    start = data.draw(start_times(zone), label="start")
    months = CronSim(expr, start).months
    last_months = sorted(m for m in months if m % 12 + 1 not in months)
    if last_months and data.draw(st.booleans(), label="across the end of a month"):
        # Run out of a month the expression names into one it does not, with enough fires
        # before the end (more than catch_up walks) that the days after it are counted.
        month = data.draw(st.sampled_from(last_months), label="month")
        year = data.draw(st.integers(2020, 2034), label="year")
        month_end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=ZoneInfo(zone))
        start = month_end.astimezone(UTC) - timedelta(days=data.draw(st.floats(3, 5), label="days before"))
        days = data.draw(st.floats(6, 9), label="days")
    spec = Spec(schedule_type="cron", timezone=zone, cron_expression=expr)
    due = timing.next_fire(spec, start)
    assume(due is not None)
    now = due + timedelta(days=days)
    walked = [due, *fires_until(spec, due, now)]
    result = timing.catch_up(spec, due_at=due, now=now, window_seconds=0)
    assert result.missed_count == len(walked) - (1 if result.fire_at else 0)
    assert result.newest_at == walked[-1]
    assert result.next_run_at == timing.next_fire(spec, now)


@pytest.mark.parametrize(
    ("expr", "zone", "start"),
    [
        ("0 */2 * * *", "America/New_York", "2401-03-11T04:00:00Z"),
        ("30 2 * * *", "America/New_York", "2401-03-10T12:00:00Z"),
        ("*/30 1 * * *", "America/New_York", "2401-11-04T04:00:00Z"),
        ("30 1 * * *", "America/New_York", "2999-11-03T04:00:00Z"),
        ("30 1 * * *", "Europe/London", "2999-03-30T12:00:00Z"),
        ("45 2 * * *", "Australia/Sydney", "2998-10-05T12:00:00Z"),
    ],
)
def test_far_future_years_agree_with_cronsim(expr, zone, start):
    # Offset changes are computed for every year the API accepts (up to 2999), not just
    # the years near today.
    after = datetime.fromisoformat(start.replace("Z", "+00:00"))
    spec = Spec(schedule_type="cron", timezone=zone, cron_expression=expr)
    assert timing.next_fires(spec, after, FIRES) == cronsim_fires(expr, zone, after, FIRES)

"""schedules.timing: cron in local time with Debian cron's DST rules, intervals, once,
catch-up, descriptions (validation: test_timing_validation.py; wording: test_timing_words.py).
Pure functions: no database, no settings."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from schedules import timing
from schedules.timing import CatchUp, Spec
from tests.constants import UTC


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(values) -> list[str]:
    return [v.strftime("%Y-%m-%dT%H:%M:%SZ") for v in values]


def cron(expr: str, zone: str = "UTC", **window) -> Spec:
    return Spec(schedule_type="cron", timezone=zone, cron_expression=expr, **window)


# --- cron fire times ----------------------------------------------------------------------

CRON_CASES = [
    # America/New_York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
    pytest.param("America/New_York", "30 2 * * *", "2026-03-07T12:00:00Z",
                 ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"], id="ny-spring-fixed-time-in-gap-fires-at-gap-end"),
    pytest.param("America/New_York", "0 2 * * *", "2026-03-07T12:00:00Z",
                 ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"], id="ny-spring-gap-start"),
    pytest.param("America/New_York", "*/15 2 * * *", "2026-03-07T12:00:00Z",
                 ["2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"], id="ny-spring-minute-wildcard-skips-the-gap"),
    pytest.param("America/New_York", "30 * * * *", "2026-03-08T05:00:00Z",
                 ["2026-03-08T05:30:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"],
                 id="ny-spring-wild-hour-skips-the-missing-hour"),
    # America/New_York, fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
    pytest.param("America/New_York", "30 1 * * *", "2026-10-31T12:00:00Z",
                 ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"], id="ny-fall-fixed-hour-fires-once"),
    pytest.param("America/New_York", "30 1 * * *", "2026-11-01T06:10:00Z",
                 ["2026-11-02T06:30:00Z"], id="ny-fall-second-pass-does-not-refire"),
    pytest.param("America/New_York", "*/20 1 * * *", "2026-11-01T04:00:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T05:20:00Z", "2026-11-01T05:40:00Z", "2026-11-01T06:00:00Z",
                  "2026-11-01T06:20:00Z", "2026-11-01T06:40:00Z", "2026-11-02T06:00:00Z"],
                 id="ny-fall-minute-wildcard-fires-both-passes"),
    pytest.param("America/New_York", "0,30 1 * * *", "2026-11-01T04:00:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"],
                 id="ny-fall-minute-list-is-fixed-and-fires-first-pass-only"),
    pytest.param("America/New_York", "0 * * * *", "2026-11-01T04:30:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"],
                 id="ny-fall-wild-hour-fires-both-passes"),
    pytest.param("America/New_York", "*/30 * * * *", "2026-11-01T04:45:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z",
                  "2026-11-01T07:00:00Z"], id="ny-fall-minute-step-fires-every-real-half-hour"),
    # Europe/London: 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT (both 01:00Z).
    pytest.param("Europe/London", "30 1 * * *", "2026-03-28T12:00:00Z",
                 ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"], id="london-spring-fixed"),
    pytest.param("Europe/London", "15 * * * *", "2026-03-29T00:00:00Z",
                 ["2026-03-29T00:15:00Z", "2026-03-29T01:15:00Z", "2026-03-29T02:15:00Z"], id="london-spring-wild"),
    pytest.param("Europe/London", "30 1 * * *", "2026-10-24T12:00:00Z",
                 ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"], id="london-fall-fixed"),
    pytest.param("Europe/London", "0 * * * *", "2026-10-24T23:30:00Z",
                 ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"], id="london-fall-wild"),
    # Australia/Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z).
    pytest.param("Australia/Sydney", "30 2 * * *", "2026-04-04T00:00:00Z",
                 ["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"], id="sydney-fall-fixed"),
    pytest.param("Australia/Sydney", "0 * * * *", "2026-04-04T14:30:00Z",
                 ["2026-04-04T15:00:00Z", "2026-04-04T16:00:00Z", "2026-04-04T17:00:00Z"], id="sydney-fall-wild"),
    pytest.param("Australia/Sydney", "30 2 * * *", "2026-10-03T00:00:00Z",
                 ["2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"], id="sydney-spring-fixed"),
    pytest.param("Australia/Sydney", "30 * * * *", "2026-10-03T15:00:00Z",
                 ["2026-10-03T15:30:00Z", "2026-10-03T16:30:00Z"], id="sydney-spring-wild"),
    # Australia/Lord_Howe moves by 30 minutes: 2026-10-04 02:00 (+10:30) -> 02:30 (+11).
    pytest.param("Australia/Lord_Howe", "15 2 * * *", "2026-10-03T00:00:00Z",
                 ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"], id="lord-howe-half-hour-gap"),
    # No daylight saving.
    pytest.param("Asia/Shanghai", "0 9 * * *", "2026-12-01T00:00:00Z", ["2026-12-01T01:00:00Z"], id="shanghai"),
    pytest.param("UTC", "0 9 * * *", "2026-12-01T00:00:00Z", ["2026-12-01T09:00:00Z"], id="utc"),
    pytest.param("Asia/Kolkata", "0 9 * * *", "2026-12-01T00:00:00Z", ["2026-12-01T03:30:00Z"], id="kolkata"),
    # Month ends and leap days.
    pytest.param("UTC", "0 9 31 * *", "2026-04-01T00:00:00Z",
                 ["2026-05-31T09:00:00Z", "2026-07-31T09:00:00Z", "2026-08-31T09:00:00Z"],
                 id="31st-only-in-long-months"),
    pytest.param("UTC", "0 9 L * *", "2028-01-31T10:00:00Z",
                 ["2028-02-29T09:00:00Z", "2028-03-31T09:00:00Z", "2028-04-30T09:00:00Z"], id="last-day-leap-2028"),
    pytest.param("UTC", "0 9 L * *", "2027-01-31T10:00:00Z",
                 ["2027-02-28T09:00:00Z", "2027-03-31T09:00:00Z"], id="last-day-2027"),
    pytest.param("Asia/Shanghai", "0 9 L * *", "2027-02-01T00:00:00Z", ["2027-02-28T01:00:00Z"], id="last-day-local"),
    pytest.param("UTC", "0 9 15,L * *", "2027-02-01T00:00:00Z",
                 ["2027-02-15T09:00:00Z", "2027-02-28T09:00:00Z", "2027-03-15T09:00:00Z"], id="last-day-in-a-list"),
    pytest.param("UTC", "0 9 2-31,L * *", "2028-07-01T00:00:00Z",
                 ["2028-07-02T09:00:00Z"], id="last-day-with-thirty-other-days"),
    pytest.param("UTC", "0 0 29 2 *", "2026-01-01T00:00:00Z",
                 ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"], id="leap-day-only"),
    # Macros.
    pytest.param("UTC", "@hourly", "2026-12-01T10:20:00Z", ["2026-12-01T11:00:00Z", "2026-12-01T12:00:00Z"],
                 id="hourly"),
    pytest.param("Asia/Shanghai", "@daily", "2026-12-01T10:20:00Z", ["2026-12-01T16:00:00Z"], id="daily-local"),
    pytest.param("UTC", "@midnight", "2026-12-01T10:20:00Z", ["2026-12-02T00:00:00Z"], id="midnight"),
    pytest.param("UTC", "@weekly", "2026-12-01T10:20:00Z", ["2026-12-06T00:00:00Z"], id="weekly-on-sunday"),
    pytest.param("UTC", "@monthly", "2026-12-01T10:20:00Z", ["2027-01-01T00:00:00Z"], id="monthly"),
    pytest.param("UTC", "@yearly", "2026-12-01T10:20:00Z", ["2027-01-01T00:00:00Z"], id="yearly"),
    pytest.param("UTC", "@annually", "2026-12-01T10:20:00Z", ["2027-01-01T00:00:00Z"], id="annually"),
    # Steps, ranges, names, day-of-month OR day-of-week.
    pytest.param("UTC", "*/15 * * * *", "2026-12-01T10:07:30Z",
                 ["2026-12-01T10:15:00Z", "2026-12-01T10:30:00Z", "2026-12-01T10:45:00Z", "2026-12-01T11:00:00Z"],
                 id="every-15-minutes"),
    pytest.param("Asia/Shanghai", "0 9 * * 1-5", "2026-11-27T02:00:00Z",
                 ["2026-11-30T01:00:00Z", "2026-12-01T01:00:00Z"], id="weekdays-skip-weekend"),
    pytest.param("Asia/Shanghai", "0 9 * * MON-FRI", "2026-11-27T02:00:00Z",
                 ["2026-11-30T01:00:00Z", "2026-12-01T01:00:00Z"], id="weekday-names"),
    pytest.param("UTC", "0 12 1 JAN *", "2026-12-01T00:00:00Z", ["2027-01-01T12:00:00Z"], id="month-name"),
    pytest.param("UTC", "0 0 * * 7", "2026-12-01T00:00:00Z", ["2026-12-06T00:00:00Z"], id="sunday-as-7"),
    pytest.param("UTC", "0 0 13 * FRI", "2026-02-01T00:00:00Z",
                 ["2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"], id="dom-or-dow"),
    pytest.param("UTC", "0 0 */10 * FRI", "2026-02-01T00:00:00Z",
                 ["2026-05-01T00:00:00Z", "2026-07-31T00:00:00Z"], id="dom-star-step-and-dow"),
]


@pytest.mark.parametrize(("zone", "expr", "after", "expected"), CRON_CASES)
def test_cron_fire_times(zone, expr, after, expected):
    assert iso(timing.next_fires(cron(expr, zone), z(after), len(expected))) == expected


def test_fall_back_fires_fixed_hour_once():
    fires = timing.next_fires(cron("30 1 * * *", "America/New_York"), z("2026-11-01T00:00:00Z"), 2)
    assert iso(fires) == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]


def test_fall_back_fires_minute_wildcard_in_both_passes():
    # Debian's rule: `*` in the minute field makes a wildcard job, whatever the hour field.
    fires = timing.next_fires(cron("*/15 1 * * *", "America/New_York"), z("2026-11-01T00:00:00Z"), 9)
    assert iso(fires) == [
        "2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:45:00Z",
        "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z", "2026-11-01T06:30:00Z", "2026-11-01T06:45:00Z",
        "2026-11-02T06:00:00Z",
    ]


def test_spring_forward_skips_minute_wildcard_in_the_gap():
    # 02:00-02:59 does not exist in New York on 2026-03-08: a wildcard job does not fire that day.
    fire = timing.next_fire(cron("*/15 2 * * *", "America/New_York"), z("2026-03-08T00:00:00Z"))
    assert fire == z("2026-03-09T06:00:00Z")


def test_spring_forward_in_a_far_future_year_skips_the_gap():
    # 2401-03-11 is New York's spring-forward day: 02:00 does not exist, 04:00 is 08:00Z.
    fires = timing.next_fires(cron("0 */2 * * *", "America/New_York"), z("2401-03-11T04:00:00Z"), 3)
    assert iso(fires) == ["2401-03-11T05:00:00Z", "2401-03-11T08:00:00Z", "2401-03-11T10:00:00Z"]


def test_spring_forward_fires_missing_time_at_end_of_gap():
    assert timing.next_fire(cron("30 2 * * *", "America/New_York"), z("2026-03-08T00:00:00Z")) == z(
        "2026-03-08T07:00:00Z"
    )


def test_next_fire_is_strictly_after():
    spec = cron("0 9 * * *")
    assert timing.next_fire(spec, z("2026-12-01T09:00:00Z")) == z("2026-12-02T09:00:00Z")
    assert timing.next_fire(spec, z("2026-12-01T08:59:59.999999Z")) == z("2026-12-01T09:00:00Z")


def test_next_fire_returns_utc_for_any_aware_input():
    shanghai_time = z("2026-12-01T00:00:00Z").astimezone(timing.validate_timezone("Asia/Shanghai"))
    fire = timing.next_fire(cron("0 9 * * *", "Asia/Shanghai"), shanghai_time)
    assert fire == z("2026-12-01T01:00:00Z")
    assert fire.tzinfo is UTC


def test_naive_after_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        timing.next_fire(cron("0 9 * * *"), datetime(2026, 12, 1))


def test_cron_window_starts_at_start_at_inclusive_and_ends_at_end_at():
    spec = cron("0 9 * * *", start_at=z("2026-12-03T09:00:00Z"), end_at=z("2026-12-05T09:00:00Z"))
    assert iso(timing.next_fires(spec, z("2026-11-01T00:00:00Z"), 10)) == [
        "2026-12-03T09:00:00Z",
        "2026-12-04T09:00:00Z",
        "2026-12-05T09:00:00Z",
    ]
    assert timing.next_fire(spec, z("2026-12-05T09:00:00Z")) is None


def test_fire_times_are_the_same_from_every_thread():
    spec = cron("*/7 * * * *", "America/New_York")
    starts = [z("2026-11-01T04:00:00Z") + timedelta(minutes=13 * i) for i in range(300)]
    expected = [timing.next_fire(spec, s) for s in starts]
    results: dict[int, list] = {}

    def work(n):
        results[n] = [timing.next_fire(spec, s) for s in starts]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results.values())


# --- interval and once ----------------------------------------------------------------------


def test_interval_fires_on_the_anchor_grid():
    spec = Spec(schedule_type="interval", interval_seconds=900, anchor=z("2026-12-01T10:00:00Z"))
    assert iso(timing.next_fires(spec, z("2026-12-01T10:20:00Z"), 3)) == [
        "2026-12-01T10:30:00Z",
        "2026-12-01T10:45:00Z",
        "2026-12-01T11:00:00Z",
    ]


def test_interval_start_at_is_the_anchor_and_the_first_fire():
    spec = Spec(
        schedule_type="interval",
        interval_seconds=3600,
        start_at=z("2026-12-05T08:00:00Z"),
        anchor=z("2026-12-01T10:17:00Z"),
    )
    fires = timing.next_fires(spec, z("2026-12-01T10:20:00Z"), 2)
    assert iso(fires) == ["2026-12-05T08:00:00Z", "2026-12-05T09:00:00Z"]


def test_interval_counts_elapsed_time_across_dst():
    spec = Spec(schedule_type="interval", timezone="America/New_York", interval_seconds=86400,
                start_at=z("2026-03-07T14:00:00Z"))
    # 09:00 EST, then 10:00 EDT: elapsed days, not wall-clock days.
    fires = timing.next_fires(spec, z("2026-03-07T00:00:00Z"), 2)
    assert iso(fires) == ["2026-03-07T14:00:00Z", "2026-03-08T14:00:00Z"]


def test_interval_anchor_drops_microseconds():
    spec = Spec(schedule_type="interval", interval_seconds=60, anchor=z("2026-12-01T10:00:00.734512Z"))
    assert timing.next_fire(spec, z("2026-12-01T10:00:00.734512Z")) == z("2026-12-01T10:01:00Z")


def test_interval_without_anchor_counts_from_after():
    spec = Spec(schedule_type="interval", interval_seconds=300)
    assert timing.next_fire(spec, z("2026-12-01T10:00:00Z")) == z("2026-12-01T10:05:00Z")


def test_interval_stops_at_end_at():
    spec = Spec(schedule_type="interval", interval_seconds=3600, anchor=z("2026-12-01T00:00:00Z"),
                end_at=z("2026-12-01T02:30:00Z"))
    fires = timing.next_fires(spec, z("2026-12-01T00:00:00Z"), 5)
    assert iso(fires) == ["2026-12-01T01:00:00Z", "2026-12-01T02:00:00Z"]


def test_once_fires_at_run_at_then_is_finished():
    spec = Spec(schedule_type="once", run_at=z("2026-12-01T09:00:00Z"))
    assert timing.next_fire(spec, z("2026-11-30T00:00:00Z")) == z("2026-12-01T09:00:00Z")
    assert timing.next_fire(spec, z("2026-12-01T09:00:00Z")) is None
    assert timing.next_fires(spec, z("2026-11-30T00:00:00Z"), 5) == [z("2026-12-01T09:00:00Z")]


def test_once_outside_its_window_never_fires():
    spec = Spec(schedule_type="once", run_at=z("2026-12-01T09:00:00Z"), start_at=z("2026-12-02T00:00:00Z"))
    assert timing.next_fire(spec, z("2026-11-30T00:00:00Z")) is None


# --- catch-up -------------------------------------------------------------------------------


def test_restart_within_window_fires_newest_and_counts_older_as_missed():
    result = timing.catch_up(cron("0 * * * *"), due_at=z("2026-12-01T10:00:00Z"), now=z("2026-12-01T12:30:00Z"),
                             window_seconds=3600)
    assert result == CatchUp(
        fire_at=z("2026-12-01T12:00:00Z"),
        missed_count=2,
        next_run_at=z("2026-12-01T13:00:00Z"),
    )
    assert result.newest_at == z("2026-12-01T12:00:00Z")


def test_restart_outside_window_fires_nothing_and_counts_everything():
    result = timing.catch_up(cron("0 * * * *"), due_at=z("2026-12-01T10:00:00Z"), now=z("2026-12-01T12:30:00Z"),
                             window_seconds=600)
    assert result.fire_at is None
    assert result.missed_count == 3
    assert result.newest_at == z("2026-12-01T12:00:00Z")
    assert result.next_run_at == z("2026-12-01T13:00:00Z")


def test_on_time_due_schedule_fires_with_nothing_missed():
    result = timing.catch_up(cron("0 * * * *"), due_at=z("2026-12-01T10:00:00Z"), now=z("2026-12-01T10:00:02Z"),
                             window_seconds=3600)
    assert (result.fire_at, result.missed_count, result.next_run_at) == (
        z("2026-12-01T10:00:00Z"), 0, z("2026-12-01T11:00:00Z"))


def test_not_yet_due_is_a_no_op():
    result = timing.catch_up(cron("0 * * * *"), due_at=z("2026-12-01T11:00:00Z"), now=z("2026-12-01T10:00:00Z"),
                             window_seconds=3600)
    assert result == CatchUp(fire_at=None, missed_count=0, next_run_at=z("2026-12-01T11:00:00Z"))
    assert result.newest_at is None


def test_catch_up_over_a_dst_weekend_counts_each_real_hour():
    # 2026-10-31 00:00 EDT to 2026-11-03 00:00 EST is 73 hours: 74 hourly fires, counted by day.
    result = timing.catch_up(cron("0 * * * *", "America/New_York"), due_at=z("2026-10-31T04:00:00Z"),
                             now=z("2026-11-03T05:00:00Z"), window_seconds=3600)
    assert (result.fire_at, result.missed_count) == (z("2026-11-03T05:00:00Z"), 73)


def test_catch_up_over_a_dst_weekend_fires_fixed_hour_once():
    # 01:30 New York from Oct 30 to Nov 5: seven days, one fire each, despite the repeated hour.
    result = timing.catch_up(cron("30 1 * * *", "America/New_York"), due_at=z("2026-10-30T05:30:00Z"),
                             now=z("2026-11-05T12:00:00Z"), window_seconds=86400)
    assert (result.fire_at, result.missed_count) == (z("2026-11-05T06:30:00Z"), 6)


def test_catch_up_across_a_skipped_day_counts_what_next_fire_yields():
    # Pacific/Apia skipped 2011-12-30: 09:00 that day fires at the end of the gap (2011-12-31
    # 00:00 +14:00), as every missing fixed time does. Dec 1 09:00 to Mar 1 09:00 local is
    # 91 days plus that one moved fire.
    spec = cron("0 9 * * *", "Pacific/Apia")
    due, now = z("2011-12-01T09:00:00-10:00"), z("2012-03-01T09:30:00+14:00")
    walked = [due, *(f for f in timing.next_fires(spec, due, 200) if f <= now)]
    assert z("2011-12-30T10:00:00Z") in walked
    result = timing.catch_up(spec, due_at=due, now=now, window_seconds=0)
    assert (len(walked), result.fire_at, result.missed_count) == (92, None, 92)


@pytest.mark.parametrize(
    ("expr", "zone", "due", "now", "missed", "next_run"),
    [
        # January only: of Jan 31 - Feb 3, only Jan 31's 1,440 minutes are occurrences.
        ("* * * 1 *", "UTC", "2026-01-31T00:00:00Z", "2026-02-03T12:00:00Z", 1440, "2027-01-01T00:00:00Z"),
        ("* * * 1 *", "Asia/Shanghai", "2026-01-30T16:00:00Z", "2026-02-03T12:00:00Z", 1440, "2026-12-31T16:00:00Z"),
        # November only, hourly in New York, until Dec 10: 30 days of 24 hours, plus the
        # repeated hour of Nov 1 (a wildcard job fires in both passes).
        ("0 * * 11 *", "America/New_York", "2026-11-01T04:00:00Z", "2026-12-10T00:00:00Z", 721,
         "2027-11-01T04:00:00Z"),
        # February and April only, across March and its spring-forward day in London: 28 days
        # of February, April 1 and 2, and 00:30 BST on April 3.
        ("30 * * 2,4 *", "Europe/London", "2026-02-01T00:30:00Z", "2026-04-03T00:00:00Z", 28 * 24 + 2 * 24 + 1,
         "2026-04-03T00:30:00Z"),
    ],
)
def test_month_restricted_catch_up_counts_only_the_months_it_names(expr, zone, due, now, missed, next_run):
    result = timing.catch_up(cron(expr, zone), due_at=z(due), now=z(now), window_seconds=0)
    assert (result.fire_at, result.missed_count, result.next_run_at) == (None, missed, z(next_run))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Australia/Lord_Howe"])
def test_cron_catch_up_count_matches_walking_every_fire(zone):
    spec = cron("*/20 1-3,7 * * *", zone)
    due = timing.next_fire(spec, z("2026-09-25T00:00:00Z"))
    now = z("2026-11-10T00:00:00Z")
    walked = [due, *(f for f in timing.next_fires(spec, due, 2000) if f <= now)]
    result = timing.catch_up(spec, due_at=due, now=now, window_seconds=0)
    assert result.missed_count == len(walked)
    assert result.newest_at == walked[-1]


def test_interval_catch_up_counts_a_year_of_minutes_by_arithmetic():
    spec = Spec(schedule_type="interval", interval_seconds=60, anchor=z("2026-01-01T00:00:00Z"))
    result = timing.catch_up(spec, due_at=z("2026-01-01T00:01:00Z"), now=z("2027-01-01T00:00:30Z"),
                             window_seconds=3600)
    assert result == CatchUp(
        fire_at=z("2027-01-01T00:00:00Z"),
        missed_count=525_599,
        next_run_at=z("2027-01-01T00:01:00Z"),
    )
    assert result.newest_at == z("2027-01-01T00:00:00Z")


def test_interval_catch_up_over_centuries_is_counted_not_walked():
    # Half a billion occurrences: only arithmetic answers this (a walk would never finish).
    spec = Spec(schedule_type="interval", interval_seconds=60, anchor=z("2026-01-01T00:00:00Z"))
    result = timing.catch_up(spec, due_at=z("2026-01-01T00:01:00Z"), now=z("2939-01-01T00:00:30Z"),
                             window_seconds=3600)
    assert result.fire_at == z("2939-01-01T00:00:00Z")
    assert result.next_run_at == z("2939-01-01T00:01:00Z")
    assert result.missed_count == 480_191_039  # every minute of 913 years, less the one fired


def test_cron_catch_up_stops_counting_at_max_count():
    # A year of minutes is 525,600 occurrences: the count stops at max_count instead.
    result = timing.catch_up(cron("* * * * *", "Europe/London"), due_at=z("2026-01-01T00:00:00Z"),
                             now=z("2027-01-01T00:00:30Z"), window_seconds=3600)
    assert result.fire_at == z("2027-01-01T00:00:00Z")
    assert result.missed_count == 99_999
    assert result.next_run_at == z("2027-01-01T00:01:00Z")


def test_cron_catch_up_respects_end_at():
    spec = cron("0 * * * *", end_at=z("2026-12-01T11:30:00Z"))
    result = timing.catch_up(spec, due_at=z("2026-12-01T10:00:00Z"), now=z("2026-12-01T14:00:00Z"),
                             window_seconds=36000)
    assert (result.fire_at, result.missed_count, result.next_run_at) == (z("2026-12-01T11:00:00Z"), 1, None)


def test_once_catch_up():
    spec = Spec(schedule_type="once", run_at=z("2026-12-01T09:00:00Z"))
    late = timing.catch_up(spec, due_at=z("2026-12-01T09:00:00Z"), now=z("2026-12-01T09:00:10Z"), window_seconds=60)
    assert (late.fire_at, late.missed_count, late.next_run_at) == (z("2026-12-01T09:00:00Z"), 0, None)
    too_late = timing.catch_up(spec, due_at=z("2026-12-01T09:00:00Z"), now=z("2026-12-02T09:00:00Z"),
                               window_seconds=60)
    assert (too_late.fire_at, too_late.missed_count, too_late.next_run_at) == (None, 1, None)


# --- describe and preview -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "english", "chinese"),
    [
        (cron("0 9 * * 1-5", "Asia/Shanghai"), "At 09:00, Monday through Friday (Asia/Shanghai)",
         "在 09:00，星期一到星期五 (Asia/Shanghai)"),
        (cron("@daily"), "At 00:00 (UTC)", "在 00:00 (UTC)"),
        (cron("0 9 L * *"), "At 09:00, on the last day of the month (UTC)", "在 09:00，每月最后一天 (UTC)"),
        (cron("0 0 29 2 *"), "At 00:00, on the 29th of the month, only in February (UTC)",
         "在 00:00，每月 29 号，仅在二月 (UTC)"),
        (Spec(schedule_type="interval", interval_seconds=900), "Every 15 minutes", "每 15 分钟"),
        (Spec(schedule_type="interval", interval_seconds=3600), "Every hour", "每小时"),
        (Spec(schedule_type="interval", interval_seconds=172800), "Every 2 days", "每 2 天"),
        (Spec(schedule_type="interval", interval_seconds=90), "Every 90 seconds", "每 90 秒"),
        (Spec(schedule_type="once", timezone="Asia/Shanghai", run_at=z("2026-12-01T01:00:00Z")),
         "Once at 2026-12-01 09:00 Asia/Shanghai", "在 2026-12-01 09:00 Asia/Shanghai 执行一次"),
        (cron("0 9 * * *", "Asia/Shanghai", start_at=z("2026-12-01T00:00:00Z"), end_at=z("2027-01-01T00:00:00Z")),
         "At 09:00, from 2026-12-01 08:00, until 2027-01-01 08:00 (Asia/Shanghai)",
         "在 09:00，自 2026-12-01 08:00 起，至 2027-01-01 08:00 止 (Asia/Shanghai)"),
    ],
)
def test_describe_in_english_and_chinese(spec, english, chinese):
    assert timing.describe(spec) == english
    assert timing.describe(spec, "zh-hans") == chinese
    assert timing.describe(spec, "zh") == chinese


def test_preview_lists_next_runs_in_utc_and_local_time():
    result = timing.preview(cron("0 9 * * 1-5", "Asia/Shanghai"), z("2026-11-27T02:00:00Z"), count=2)
    assert result == {
        "description": "At 09:00, Monday through Friday (Asia/Shanghai)",
        "timezone": "Asia/Shanghai",
        "next_runs": [
            {"utc": "2026-11-30T01:00:00Z", "local": "2026-11-30T09:00:00+08:00"},
            {"utc": "2026-12-01T01:00:00Z", "local": "2026-12-01T09:00:00+08:00"},
        ],
    }


def test_preview_across_dst_shows_the_local_offset_change():
    result = timing.preview(cron("30 1 * * *", "America/New_York"), z("2026-10-31T12:00:00Z"), count=2,
                            language="zh-hans")
    assert result["description"] == "在 01:30 (America/New_York)"
    assert result["next_runs"] == [
        {"utc": "2026-11-01T05:30:00Z", "local": "2026-11-01T01:30:00-04:00"},
        {"utc": "2026-11-02T06:30:00Z", "local": "2026-11-02T01:30:00-05:00"},
    ]


def test_preview_of_an_unsaved_interval_counts_from_after():
    result = timing.preview(Spec(schedule_type="interval", interval_seconds=900), z("2026-12-01T10:00:00Z"), count=2)
    assert [r["utc"] for r in result["next_runs"]] == ["2026-12-01T10:15:00Z", "2026-12-01T10:30:00Z"]

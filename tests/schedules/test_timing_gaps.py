"""Inputs that a mutation run of schedules/timing/ showed unchecked: each pins a behaviour a
person would notice (a suggestion, a wording, an error type, an exact instant)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cronsim import CronSim

from schedules import timing
from schedules.timing import zones
from schedules.timing.cron import compile_cron
from schedules.timing.occurrences import validate_spec
from schedules.timing.wording import cron_words

UTC = timezone.utc


# --- zones.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, fixed, city",
    [
        ("GMT+9", "Etc/GMT-9", "Asia/Tokyo"),
        ("GMT+8", "Etc/GMT-8", "Asia/Shanghai"),
        ("GMT-5", "Etc/GMT+5", "America/New_York"),
        ("GMT-3", "Etc/GMT+3", "America/Sao_Paulo"),
        ("UTC+1", "Etc/GMT-1", "Europe/Paris"),
        ("GMT+13", "Etc/GMT-13", "Pacific/Tongatapu"),
        ("GMT+14", "Etc/GMT-14", "Pacific/Kiritimati"),
    ],
)
def test_an_offset_typed_as_a_zone_suggests_the_fixed_zone_and_a_city(typed, fixed, city):
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone(typed)
    assert f"did you mean '{fixed}'" in caught.value.message
    assert f"a city's zone such as '{city}'" in caught.value.message


def test_gmt_minus_12_has_a_fixed_zone_and_no_city():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone("GMT-12")
    assert caught.value.message == (
        "unknown time zone 'GMT-12'; did you mean 'Etc/GMT+12' (UTC-12:00 all year; Etc/GMT names invert the sign)?"
    )


def test_a_half_hour_offset_suggests_a_city_only():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone("UTC+05:30")
    assert caught.value.message == "unknown time zone 'UTC+05:30'; did you mean a city's zone such as 'Asia/Kolkata' (UTC+05:30)?"


def test_beyond_plus_14_there_is_no_fixed_zone_to_suggest():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone("GMT+15")
    assert "Etc/GMT" not in caught.value.message


def test_an_offset_change_is_found_to_the_second():
    # Gaza moved to summer time at 00:01 local on 1 April 2011 (22:01Z) and back on 1 August.
    gaza = timing.validate_timezone("Asia/Gaza")
    change = datetime(2011, 3, 31, 22, 1, tzinfo=UTC)
    assert zones.next_transition(gaza, datetime(2011, 3, 1, tzinfo=UTC), datetime(2011, 5, 1, tzinfo=UTC)) == change
    assert zones.next_transition(gaza, change - timedelta(seconds=1), change) == change
    assert zones.next_transition(gaza, change, change + timedelta(days=1)) is None
    assert zones._year_transitions(gaza, 2011)[0] == int(change.timestamp())


# --- occurrences.py ---------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, None])
def test_an_interval_without_a_positive_length_is_a_schedule_error(seconds):
    spec = timing.Spec("interval", interval_seconds=seconds)
    with pytest.raises(timing.ScheduleError) as caught:
        timing.next_fire(spec, datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.field == "interval_seconds"
    with pytest.raises(timing.ScheduleError):
        timing.catch_up(spec, due_at=datetime(2026, 1, 1, tzinfo=UTC), now=datetime(2026, 1, 2, tzinfo=UTC), window_seconds=60)


def test_a_once_spec_without_run_at_is_a_schedule_error():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.next_fire(timing.Spec("once"), datetime(2026, 1, 1, tzinfo=UTC))
    assert (caught.value.field, caught.value.message) == ("run_at", "a one-time schedule needs run_at")


def test_catch_up_from_before_start_at_counts_from_start_at_on():
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    now = datetime(2026, 1, 1, 14, tzinfo=UTC)
    minutely = timing.Spec("cron", cron_expression="* * * * *", start_at=start)
    # Counted by whole days: 12:00 to 14:00 is 121 fires, plus the stored due time; the newest fires.
    catch = timing.catch_up(minutely, due_at=start - timedelta(days=1), now=now, window_seconds=3600)
    assert (catch.fire_at, catch.missed_count, catch.next_run_at) == (now, 121, now + timedelta(minutes=1))
    hourly = timing.Spec("cron", cron_expression="0 * * * *", start_at=start)
    catch = timing.catch_up(hourly, due_at=start - timedelta(days=31), now=now, window_seconds=3600)
    assert (catch.fire_at, catch.missed_count) == (now, 3)


def test_the_longest_interval_is_said_in_words():
    spec = timing.Spec("interval", interval_seconds=7201)
    with pytest.raises(timing.ScheduleError) as caught:
        validate_spec(spec, now=datetime(2026, 1, 1, tzinfo=UTC), max_interval=7200)
    assert caught.value.message == "interval must be at most 7200 seconds (2 hours)"


# --- cron.py ----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["0 0 30 6 *", "0 0 31 7 *", "0 0 31 10 *"])
def test_the_last_day_of_each_month_is_accepted(expression):
    assert timing.validate_cron(expression) == expression
    fire = timing.next_fire(timing.Spec("cron", cron_expression=expression), datetime(2026, 1, 1, tzinfo=UTC))
    day, month = int(expression.split()[2]), int(expression.split()[3])
    assert (fire.month, fire.day) == (month, day)


# --- wording.py -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, english, chinese",
    [
        # 30 February never comes: only the 1st is said.
        ("0 0 1,30 2 *", "At 00:00, on the 1st of the month, only in February", "在 00:00，每月 1 号，仅在二月"),
        ("0 1-6 * * *", "At 01:00, 02:00, 03:00, 04:00, 05:00 and 06:00", "在 01:00、02:00、03:00、04:00、05:00 和 06:00"),
        ("0 */8 * * *", "Every 8 hours", "每 8 小时"),
        (
            "*/15 1,3,5 * * *",
            "Every 15 minutes, between 01:00 and 01:59 and between 03:00 and 03:59 and between 05:00 and 05:59",
            "每 15 分钟，在 01:00 到 01:59、03:00 到 03:59 和 05:00 到 05:59 之间",
        ),
        # Day 15 OR any day of the week (0-7 is every day): every day, as cron reads it.
        ("0 9 15 * 0-7", "At 09:00", "在 09:00"),
        # Found by a second mutation pass.
        ("0 0 13 * *", "At 00:00, on the 13th of the month", "在 00:00，每月 13 号"),
        ("0 0 22 * *", "At 00:00, on the 22nd of the month", "在 00:00，每月 22 号"),
        ("0 0,4,8,12,16,20 * * *", "Every 4 hours", "每 4 小时"),
        ("0 */12 * * *", "At 00:00 and 12:00", "在 00:00 和 12:00"),
        ("0 * * * *", "Every hour", "每小时"),
        (
            "15 9-17 * * *",
            "At 15 minutes past the hour, between 09:00 and 17:59",
            "在每小时的第 15 分钟，在 09:00 到 17:59 之间",
        ),
        (
            "0 0 1 3-12/3 *",
            "At 00:00, on the 1st of the month, only in March, June, September and December",
            "在 00:00，每月 1 号，仅在三月、六月、九月和十二月",
        ),
        ("0 0 1 */4 *", "At 00:00, on the 1st of the month, every 4 months", "在 00:00，每月 1 号，每 4 个月"),
        ("15 2/6 * * *", "Every 6 hours, starting at 02:15", "每 6 小时，从 02:15 开始"),
        ("0 0 1 3-5 *", "At 00:00, on the 1st of the month, March through May", "在 00:00，每月 1 号，三月到五月"),
        ("0 9 * * 1-3", "At 09:00, Monday through Wednesday", "在 09:00，星期一到星期三"),
        ("0,30 * * * *", "Every 30 minutes", "每 30 分钟"),
        ("5,10,15,20,25 * * * *", "At 5, 10, 15, ..., 25 minutes past the hour", "在每小时的第 5、10、15、…、25 分钟"),
    ],
)
def test_wording(expression, english, chinese):
    expr = compile_cron(expression)[0]
    assert (cron_words(expr, False), cron_words(expr, True)) == (english, chinese)


def test_day_15_or_every_weekday_fires_every_day_as_cronsim_does():
    spec = timing.Spec("cron", cron_expression="0 9 15 * 0-7")
    after = datetime(2026, 12, 1, tzinfo=UTC)
    oracle = CronSim("0 9 15 * 0-7", after.replace(tzinfo=None))
    assert [f.replace(tzinfo=None) for f in timing.next_fires(spec, after, 5)] == [next(oracle) for _ in range(5)]


# --- describe.py ------------------------------------------------------------------------


def test_the_second_0130_in_london_on_the_fall_back_day_reads_utc_plus_0():
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert timing.describe(timing.Spec("once", timezone="Europe/London", run_at=second)) == (
        "Once at 2026-10-25 01:30 (UTC+00:00) Europe/London"
    )
    assert timing.describe(timing.Spec("once", timezone="Europe/London", run_at=first)) == (
        "Once at 2026-10-25 01:30 (UTC+01:00) Europe/London"
    )


# --- daylight.py ------------------------------------------------------------------------


def test_the_gap_note_appears_when_the_fifth_fire_is_the_gap_day():
    spec = timing.Spec("cron", cron_expression="30 2 * * *", timezone="America/New_York")
    after = datetime(2026, 3, 3, 12, tzinfo=UTC)  # fires on 4, 5, 6, 7 and 8 March
    [note] = timing.daylight_notes(spec, after, 5)
    assert (note.kind, note.wall, note.runs_at.strftime("%H:%M")) == (timing.GAP, datetime(2026, 3, 8, 2, 30), "03:00")
    assert timing.daylight_notes(spec, after, 4) == []


def test_a_zone_that_is_not_a_name_is_refused_on_the_timezone_field():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone(123)
    assert (caught.value.field, caught.value.message) == ("timezone", "time zone must be a name such as 'Asia/Shanghai'")


def test_the_second_0130_in_new_york_reads_utc_minus_5():
    run_at = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert timing.describe(timing.Spec("once", timezone="America/New_York", run_at=run_at)) == (
        "Once at 2026-11-01 01:30 (UTC-05:00) America/New_York"
    )


def test_an_interval_preview_counts_from_its_anchor_and_a_zero_interval_is_not_described():
    spec = timing.Spec("interval", interval_seconds=3600, anchor=datetime(2026, 1, 1, 0, 17, tzinfo=UTC))
    preview = timing.preview(spec, datetime(2026, 12, 1, tzinfo=UTC), 2)
    assert [run["utc"] for run in preview["next_runs"]] == ["2026-12-01T00:17:00Z", "2026-12-01T01:17:00Z"]
    assert timing.describe(timing.Spec("interval", interval_seconds=0)) == ""


def test_a_once_time_in_a_repeated_hour_is_noted_at_its_first_occurrence():
    note = timing.wall_note(datetime(2026, 11, 1, 1, 30), "America/New_York")
    assert (note.kind, note.wall, note.runs_at.utcoffset(), note.also_at) == (
        timing.REPEAT, datetime(2026, 11, 1, 1, 30), timedelta(hours=-4), None
    )


def test_an_unknown_calendar_is_refused_by_the_timing_validation():
    spec = timing.Spec("cron", cron_expression="0 9 * * *", calendar="xx-workdays")
    with pytest.raises(timing.ScheduleError) as caught:
        validate_spec(spec, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.field == "calendar"

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


@pytest.mark.parametrize("typed", ["GMT+15", "GMT-13"])
def test_beyond_plus_14_and_minus_12_there_is_no_fixed_zone_to_suggest(typed):
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone(typed)
    assert "Etc/GMT" not in caught.value.message


def test_a_known_city_under_an_unknown_region_is_suggested():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone("Mainland-China/Shanghai")
    assert caught.value.message == "unknown time zone 'Mainland-China/Shanghai'; did you mean 'Asia/Shanghai'?"


def test_a_city_of_three_words_typed_with_spaces_is_suggested():
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_timezone("Ho Chi Minh")
    assert caught.value.message == "unknown time zone 'Ho Chi Minh'; did you mean 'Asia/Ho_Chi_Minh'?"


def test_a_repeated_local_time_is_its_first_occurrence_whatever_its_fold():
    # A naive time cut from the second 01:30 keeps fold=1; typed local times still mean the first.
    second_0130 = datetime(2026, 11, 1, 1, 30, fold=1)
    spec = timing.read_local_times(timing.Spec("once", timezone="America/New_York", run_at=second_0130))
    assert spec.run_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_offsets_are_written_as_the_pages_show_them():
    assert [timing.offset_text(timedelta(minutes=m)) for m in (480, 330, -300, -570)] == [
        "UTC+08:00", "UTC+05:30", "UTC-05:00", "UTC-09:30",
    ]
    # A zero offset (or none) reads "UTC", unless it tells one of two equal wall times apart.
    assert timing.offset_text(timedelta(0)) == timing.offset_text(None) == "UTC"
    assert timing.offset_text(timedelta(0), signed=True) == "UTC+00:00"


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

@pytest.mark.parametrize(
    "longest, words",
    [(120, "2 minutes"), (60, "1 minute"), (90, "90 seconds"), (1, "1 second"), (2 * 86400, "2 days")],
)
def test_the_longest_interval_is_said_in_its_largest_whole_unit(longest, words):
    spec = timing.Spec("interval", interval_seconds=longest + 1)
    with pytest.raises(timing.ScheduleError) as caught:
        validate_spec(spec, now=datetime(2026, 1, 1, tzinfo=UTC), min_interval=1, max_interval=longest)
    assert caught.value.message == f"interval must be at most {longest} seconds ({words})"


def test_a_once_schedule_may_run_at_its_own_end_at():
    at = datetime(2026, 12, 20, tzinfo=UTC)
    spec = timing.Spec("once", run_at=at, end_at=at)
    validate_spec(spec, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert timing.next_fire(spec, datetime(2026, 12, 1, tzinfo=UTC)) == at


def test_a_time_without_offset_is_refused_naming_the_argument():
    spec = timing.Spec("cron", cron_expression="0 9 * * *")
    with pytest.raises(ValueError, match=r"^after must be timezone-aware"):
        timing.next_fires(spec, datetime(2026, 1, 1), 2)
    with pytest.raises(ValueError, match=r"^now must be timezone-aware"):
        timing.catch_up(spec, due_at=datetime(2026, 1, 1, tzinfo=UTC), now=datetime(2026, 1, 2), window_seconds=60)


def test_an_interval_catch_up_stops_counting_at_end_at():
    anchor, hour = datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1)
    spec = timing.Spec("interval", interval_seconds=3600, anchor=anchor, end_at=anchor + 5 * hour)
    # Due at 01:00, back at 10:00: 01:00 and 02:00-05:00 were missed; nothing comes after end_at.
    catch = timing.catch_up(spec, due_at=anchor + hour, now=anchor + 10 * hour, window_seconds=60)
    assert (catch.fire_at, catch.missed_count, catch.next_run_at, catch.newest_at) == (
        None, 5, None, anchor + 5 * hour,
    )


def test_a_long_cron_catch_up_stops_counting_at_end_at():
    start, hour = datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1)
    spec = timing.Spec("cron", cron_expression="* * * * *", end_at=start + 2 * hour)
    # More than the 64 fires that are walked one by one: counted, up to end_at (02:00).
    catch = timing.catch_up(spec, due_at=start, now=start + 5 * hour, window_seconds=60)
    assert (catch.fire_at, catch.missed_count, catch.next_run_at, catch.newest_at) == (
        None, 121, None, start + 2 * hour,
    )


def test_an_interval_due_off_its_grid_fires_the_due_time_not_an_earlier_grid_time():
    # An edited schedule can keep a stored next run between two grid points (here 00:30 on an
    # hourly grid from 00:00): the due occurrence fires, and the grid resumes at 01:00.
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    spec = timing.Spec("interval", interval_seconds=3600, anchor=anchor)
    catch = timing.catch_up(
        spec, due_at=anchor + timedelta(minutes=30), now=anchor + timedelta(minutes=45), window_seconds=3600
    )
    assert (catch.fire_at, catch.missed_count, catch.next_run_at) == (
        anchor + timedelta(minutes=30), 0, anchor + timedelta(hours=1),
    )


# --- cron.py ----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["0 0 30 6 *", "0 0 31 7 *", "0 0 31 10 *"])
def test_the_last_day_of_each_month_is_accepted(expression):
    assert timing.validate_cron(expression) == expression
    fire = timing.next_fire(timing.Spec("cron", cron_expression=expression), datetime(2026, 1, 1, tzinfo=UTC))
    day, month = int(expression.split()[2]), int(expression.split()[3])
    assert (fire.month, fire.day) == (month, day)

def test_the_last_day_listed_before_other_days_keeps_them():
    # "L,15": the 15th and the last day of each month, as cronsim reads it.
    after = datetime(2026, 1, 1, tzinfo=UTC)
    fires = timing.next_fires(timing.Spec("cron", cron_expression="0 0 L,15 * *"), after, 6)
    oracle = CronSim("0 0 L,15 * *", after.replace(tzinfo=None))
    assert [f.replace(tzinfo=None) for f in fires] == [next(oracle) for _ in range(6)]
    assert [f.day for f in fires] == [15, 31, 15, 28, 15, 31]


@pytest.mark.parametrize(
    "expression, message",
    [
        ("/5 * * * *", "minute '/5' is not a valid value (use 0-59)"),
        ("0 0 /2 * *", "day-of-month '/2' is not a valid value (use 1-31 or L)"),
    ],
)
def test_a_step_without_a_start_names_the_whole_item(expression, message):
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_cron(expression)
    assert caught.value.message == message


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


def test_an_interval_of_one_second_is_described():
    assert timing.describe(timing.Spec("interval", interval_seconds=1)) == "Every second"


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

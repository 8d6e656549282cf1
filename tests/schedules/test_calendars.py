"""Workday calendars against the packages' own data over 2025-2026: China's official calendar
with its make-up days and National Day, countries' public holidays, subdivisions, and a year
without data decided by the weekday."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import holidays
import pytest

from schedules import timing
from schedules.timing import calendars

UTC = timezone.utc


@pytest.fixture(autouse=True)
def _fresh_calendars():
    # Calendars are built once per process: each test builds its own.
    calendars._build.cache_clear()


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def test_china_agrees_with_chinese_calendar_on_every_day_of_2025_and_2026():
    calendar = calendars.get("cn-workdays")
    for day in days(date(2025, 1, 1), date(2026, 12, 31)):
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day


@pytest.mark.parametrize("day", ["2025-09-28", "2025-10-11", "2026-01-04", "2026-02-14", "2026-09-20", "2026-10-10"])
def test_chinas_make_up_weekend_days_are_workdays(day):
    decision = calendars.get("cn-workdays").decide(date.fromisoformat(day))
    assert decision.workday and decision.reason.startswith("make-up workday")


def test_national_day_weeks_are_off_with_their_name():
    calendar = calendars.get("cn-workdays")
    for day in [*days(date(2025, 10, 1), date(2025, 10, 8)), *days(date(2026, 10, 1), date(2026, 10, 7))]:
        decision = calendar.decide(day)
        assert not decision.workday, day
        assert decision.reason == "not a workday in cn-workdays: National Day" or "Mid-autumn" in decision.reason


def test_us_workdays_are_weekdays_minus_the_packages_holidays():
    calendar = calendars.get("us-workdays")
    public = holidays.country_holidays("US", years=[2025, 2026])
    for day in days(date(2025, 1, 1), date(2026, 12, 31)):
        assert calendar.is_workday(day) == (day.weekday() < 5 and day not in public), day
    assert calendar.decide(date(2026, 7, 3)).reason == "not a workday in us-workdays: Independence Day (observed)"
    assert calendar.decide(date(2026, 7, 4)).reason == "not a workday in us-workdays: Independence Day"


def test_a_subdivision_adds_its_own_holidays():
    epiphany = date(2026, 1, 6)  # a Tuesday: a holiday in Bavaria, not in all of Germany
    assert not calendars.get("de-by-workdays").is_workday(epiphany)
    assert calendars.get("de-workdays").is_workday(epiphany)


@pytest.mark.parametrize(
    "name, words",
    [
        ("cn", "unknown calendar 'cn'"),
        ("xx-workdays", "no public holidays are known for country 'xx'"),
        ("de-zz-workdays", "'zz' is not a subdivision of 'de'"),
    ],
)
def test_unknown_calendars_are_refused_in_words(name, words):
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_calendar(name)
    assert caught.value.field == "calendar" and words in caught.value.message


def test_names_are_read_case_blind_and_none_is_empty():
    assert timing.validate_calendar(" CN-Workdays ") == "cn-workdays"
    assert timing.validate_calendar("") == timing.validate_calendar(None) == ""


def test_a_year_without_data_is_decided_by_the_weekday_and_says_so():
    calendar = calendars.get("cn-workdays")
    first, last = calendar.data_range()
    assert first <= 2025 and last >= 2026
    year = last + 1
    monday = next(d for d in days(date(year, 1, 1), date(year, 1, 7)) if d.weekday() == 0)
    decision = calendar.decide(monday)
    assert decision.workday and decision.missing
    assert decision.reason == f"calendar data missing for {year}; decided by the weekday"
    assert not calendar.decide(monday - timedelta(days=1)).workday  # a Sunday


def test_a_minutely_schedule_jumps_a_holiday_week_day_by_day():
    spec = timing.Spec("cron", cron_expression="* * * * *", timezone="Asia/Shanghai", calendar="cn-workdays")
    # 23:59:30 on 30 September 2026 in Shanghai: the next working minute is 00:00 on 8 October.
    fire = timing.next_fire(spec, datetime(2026, 9, 30, 15, 59, 30, tzinfo=UTC))
    assert fire == datetime(2026, 10, 7, 16, 0, tzinfo=UTC)
    # The catch-up over the holiday week counts the working minutes only: 30 September's last.
    catch = timing.catch_up(
        spec, due_at=datetime(2026, 9, 30, 15, 59, tzinfo=UTC), now=datetime(2026, 10, 7, 16, 1, tzinfo=UTC), window_seconds=60
    )
    assert (catch.fire_at, catch.missed_count) == (datetime(2026, 10, 7, 16, 1, tzinfo=UTC), 2)


def test_the_once_calendar_combination_is_refused():
    spec = timing.Spec("once", run_at=datetime(2026, 12, 20, tzinfo=UTC), calendar="cn-workdays")
    with pytest.raises(timing.ScheduleError) as caught:
        timing.validate_spec(spec, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert caught.value.field == "calendar"


@pytest.mark.parametrize(
    "spec",
    [
        timing.Spec("cron", cron_expression="* * * * *", timezone="Asia/Shanghai", calendar="cn-workdays"),
        timing.Spec(
            "interval", interval_seconds=60, timezone="Asia/Shanghai", calendar="cn-workdays",
            start_at=datetime(2026, 9, 1, tzinfo=UTC),
        ),
    ],
    ids=["cron", "interval"],
)
def test_a_long_catch_up_counts_the_working_minutes_by_day(spec):
    # Down from 23:00 on 30 September to 09:00 on 8 October in Shanghai: 60 minutes of the
    # 30th and 541 of the 8th were working time, the holiday week none.
    due, now = datetime(2026, 9, 30, 15, 0, tzinfo=UTC), datetime(2026, 10, 8, 1, 0, tzinfo=UTC)
    catch = timing.catch_up(spec, due_at=due, now=now, window_seconds=60)
    assert (catch.fire_at, catch.missed_count, catch.next_run_at) == (now, 600, now + timedelta(minutes=1))


def test_a_countrys_weekend_and_plain_workday_are_said_in_words():
    calendar = calendars.get("us-workdays")
    assert calendar.decide(date(2026, 12, 5)).reason == "not a workday in us-workdays: weekend"
    assert calendar.decide(date(2026, 12, 4)) == calendars.Decision(date(2026, 12, 4), True, "workday")
    assert calendar.data_range()[0] <= 2025 <= 2026 <= calendar.data_range()[1]


@pytest.mark.parametrize(
    "expression, restricts",
    [("0 9 * * 1-5", True), ("0 9 * * MON", True), ("@weekly", True), ("0 9 * * *", False), ("@daily", False),
     ("0 9 * * ?", False)],
)
def test_which_expressions_restrict_the_days_of_the_week(expression, restricts):
    spec = timing.Spec("cron", cron_expression=expression, calendar="cn-workdays")
    assert bool(timing.calendar_warning(spec)) is restricts
    assert timing.calendar_warning(timing.Spec("cron", cron_expression=expression)) == ""


def test_the_calendar_preview_lists_what_it_added_and_removed_against_monday_to_friday():
    spec = timing.Spec("cron", cron_expression="0 9 * * *", timezone="Asia/Shanghai", calendar="cn-workdays")
    preview = timing.calendar_preview(spec, datetime(2026, 9, 18, 2, tzinfo=UTC), 9)
    assert preview["name"] == "cn-workdays" and preview["warning"] == ""
    assert preview["data_range"] == list(calendars.get("cn-workdays").data_range())
    assert [(c["date"], c["change"]) for c in preview["changes"]] == [
        ("2026-09-20", "added"), ("2026-09-25", "removed"),
        ("2026-10-01", "removed"), ("2026-10-02", "removed"), ("2026-10-05", "removed"), ("2026-10-06", "removed"),
        ("2026-10-07", "removed"),
    ]
    assert preview["changes"][0]["reason"] == "make-up workday (National Day)"
    assert not any(c["missing_data"] for c in preview["changes"])
    assert timing.calendar_preview(timing.Spec("cron", cron_expression="0 9 * * *"), datetime(2026, 9, 18, tzinfo=UTC), 5) is None


def test_the_calendar_decisions_cover_consecutive_days_with_reasons():
    decisions = timing.calendar_decisions("cn-workdays", date(2026, 9, 30), 3)
    assert decisions == [
        {"date": "2026-09-30", "workday": True, "reason": "workday", "missing_data": False},
        {"date": "2026-10-01", "workday": False, "reason": "not a workday in cn-workdays: National Day", "missing_data": False},
        {"date": "2026-10-02", "workday": False, "reason": "not a workday in cn-workdays: National Day", "missing_data": False},
    ]


def test_a_plain_weekend_in_china_says_weekend():
    decision = calendars.get("cn-workdays").decide(date(2026, 12, 5))  # a Saturday, no holiday
    assert (decision.workday, decision.reason) == (False, "not a workday in cn-workdays: weekend")

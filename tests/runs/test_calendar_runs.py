"""Workday calendars in the scheduler: China's make-up Saturday fires, National Day does not,
"Why didn't it run?" says so, and a year without calendar data fires by weekday, marked on the
run, with one alert for the org."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from runs import calendar_data
from runs.alerts.models import Alert, AlertCause
from runs.firing import fire_due
from runs.models import ScheduleRun
from runs.why import Outcome, schedule_occurrence_report
from schedules.timing import calendars
from tests.constants import UTC
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db


def shanghai_nine(month, day, year=2026):
    return datetime(year, month, day, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture
def china(acme, agent):
    # "Workdays (China, official calendar) at 09:00": every day by the expression, the calendar decides.
    return make_schedule(
        acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", calendar="cn-workdays",
        prompt="Sales of {{ yesterday }}", now=datetime(2026, 9, 1, tzinfo=UTC),
    )


def fire_through(start: datetime, days: int) -> list[str]:
    """Run the scheduler every hour for `days` days; the local dates that got a run."""
    now = start
    for _ in range(days * 24):
        fire_due(now=now, batch_size=50, replica_id="test")
        now += timedelta(hours=1)
    return sorted(
        (r.scheduled_for + timedelta(hours=8)).date().isoformat() for r in ScheduleRun.objects.all()
    )


def test_the_make_up_sunday_fires_and_national_day_does_not(china):
    ran = fire_through(datetime(2026, 9, 19, 0, 0, tzinfo=UTC), days=22)
    assert "2026-09-20" in ran  # a Sunday made into a workday
    assert "2026-10-10" in ran  # a Saturday made into a workday
    assert not any("2026-10-01" <= d <= "2026-10-07" for d in ran)  # National Day
    assert "2026-09-25" not in ran  # Mid-autumn Festival
    assert "2026-09-26" not in ran and "2026-10-08" in ran


def test_why_lists_the_days_off_with_the_calendars_reason(china):
    report = schedule_occurrence_report(
        schedule=china, start=shanghai_nine(9, 30), end=shanghai_nine(10, 9), now=shanghai_nine(10, 9)
    )
    rows = [((o.scheduled_for + timedelta(hours=8)).date().isoformat(), o.outcome, o.reason) for o in report.occurrences]
    assert rows[0][:2] == ("2026-09-30", Outcome.NO_RECORD)
    assert rows[1] == ("2026-10-01", Outcome.SKIPPED_CALENDAR, "not a workday in cn-workdays: National Day")
    assert [r[0] for r in rows if r[1] == Outcome.SKIPPED_CALENDAR] == [f"2026-10-0{d}" for d in range(1, 8)]
    assert rows[-1][:2] == ("2026-10-08", Outcome.NO_RECORD)
    assert not any(o.backfillable for o in report.occurrences if o.outcome == Outcome.SKIPPED_CALENDAR)


def test_a_year_without_data_fires_by_weekday_marks_the_run_and_alerts_once(china):
    # chinese-calendar 1.11 has no 2027: New Year's Day (a Friday), Monday 4 and Tuesday 5
    # January are plain weekdays; the weekend is not.
    ran = fire_through(datetime(2027, 1, 2, 0, 0, tzinfo=UTC), days=4)
    assert ran == ["2027-01-01", "2027-01-04", "2027-01-05"]
    # The first pass finds New Year's Day older than the catch-up window: a `missed` row, not fired.
    fired = ScheduleRun.objects.exclude(error_code="missed")
    notes = set(fired.values_list("calendar_note", flat=True))
    assert notes == {"calendar data missing for 2027; decided by the weekday"}
    [alert] = Alert.objects.filter(cause=AlertCause.CALENDAR_DATA_MISSING)
    assert alert.org_id == china.org_id and "cn-workdays" in alert.detail


def test_a_minutely_interval_with_a_calendar_counts_only_workdays_after_downtime(acme, agent):
    schedule = make_schedule(
        acme, agent, schedule_type="interval", interval_seconds=3600, timezone="Asia/Shanghai",
        calendar="cn-workdays", now=datetime(2026, 9, 30, 0, 0, tzinfo=UTC),
    )
    # Down from 30 September 08:00 Shanghai to 8 October 10:00: only 30 September's remaining
    # hours and 8 October's first ten hours were working time.
    fire_due(now=datetime(2026, 10, 8, 2, 0, tzinfo=UTC), batch_size=10, replica_id="test")
    [run] = ScheduleRun.objects.all()
    assert run.scheduled_for == datetime(2026, 10, 8, 2, 0, tzinfo=UTC)
    assert run.missed_count == (24 - 8 - 1) + 10


def test_the_alert_resolves_once_the_calendars_cover_the_year_again(china, monkeypatch):
    fire_through(datetime(2027, 1, 4, 0, 0, tzinfo=UTC), days=1)
    assert calendar_data.resolve_covered(now=datetime(2027, 1, 4, 2, 0, tzinfo=UTC)) == 0  # still no 2027 data
    # The package is updated: its calendar now reaches 2027.
    calendar = calendars.get("cn-workdays")
    monkeypatch.setattr(calendar, "_range", (calendar.data_range()[0], 2027))
    assert calendar_data.resolve_covered(now=datetime(2027, 1, 5, 2, 0, tzinfo=UTC)) == 1
    assert not Alert.objects.filter(cause=AlertCause.CALENDAR_DATA_MISSING, state="open").exists()

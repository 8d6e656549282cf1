""""Why didn't it run?": each expected occurrence beside the reason the records support."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from audit.services import Actor
from runs.firing import fire_due
from runs.models import RunErrorCode, RunStatus, SchedulerHeartbeat
from runs.why import Outcome, schedule_occurrence_report
from schedules import services
from tests.constants import UTC
from tests.factories import make_heartbeat, make_run, make_schedule

pytestmark = pytest.mark.django_db


def at(hour, minute=0, day=1):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def hourly(acme, agent):
    # Created just before 00:00, so 00:00 is its first occurrence.
    return make_schedule(acme, agent, cron_expression="0 * * * *", now=at(0) - timedelta(minutes=1))


def outcomes(schedule, start, end, now):
    report = schedule_occurrence_report(schedule=schedule, start=start, end=end, now=now)
    return [(o.scheduled_for.hour, o.outcome) for o in report.occurrences]


def test_runs_say_how_they_went_and_skips_say_why(hourly):
    make_run(hourly, at=at(0), status=RunStatus.SUCCESS)
    make_run(hourly, at=at(1), status=RunStatus.SKIPPED, error_code=RunErrorCode.OVERLAP)
    make_run(hourly, at=at(2), status=RunStatus.SKIPPED, error_code=RunErrorCode.AGENT_DISABLED)
    make_run(hourly, at=at(3), status=RunStatus.FAILED)
    assert outcomes(hourly, at(0), at(5), at(5)) == [
        (0, Outcome.RAN), (1, Outcome.SKIPPED_OVERLAP), (2, Outcome.SKIPPED_AGENT), (3, Outcome.RAN),
        (4, Outcome.NO_RECORD),
    ]


def test_occurrences_coalesced_by_catch_up_are_missed_and_point_at_that_run(hourly):
    # The scheduler was down from before 00:00 to 03:30: it fires 03:00 and counts 00, 01, 02 as missed.
    fire_due(now=at(3, 30), batch_size=10, replica_id="r1")
    report = schedule_occurrence_report(schedule=hourly, start=at(0), end=at(4), now=at(4))
    assert [o.outcome for o in report.occurrences] == [Outcome.MISSED] * 3 + [Outcome.RAN]
    catch_up = report.occurrences[3].run
    assert catch_up.missed_count == 3
    assert all(o.counted_on == catch_up for o in report.occurrences[:3])
    assert report.backfillable == 3


def test_an_outage_longer_than_the_catch_up_window_is_all_backfillable(hourly):
    hourly.catchup_window_seconds = 600
    hourly.save(update_fields=["catchup_window_seconds"])
    fire_due(now=at(3, 30), batch_size=10, replica_id="r1")
    report = schedule_occurrence_report(schedule=hourly, start=at(0), end=at(4), now=at(4))
    assert [o.outcome for o in report.occurrences] == [Outcome.MISSED] * 3 + [Outcome.SKIPPED_MISSED]
    assert report.backfillable == 4


def test_disabled_at_the_time_comes_from_the_audit_trail(hourly, alice):
    services.schedule_disable(actor=Actor(user=alice), schedule=hourly, now=at(1, 30))
    services.schedule_enable(actor=Actor(user=alice), schedule=hourly, now=at(3, 30))
    make_run(hourly, at=at(0), status=RunStatus.SUCCESS)
    assert outcomes(hourly, at(0), at(5), at(5)) == [
        (0, Outcome.RAN), (1, Outcome.NO_RECORD), (2, Outcome.DISABLED), (3, Outcome.DISABLED), (4, Outcome.NO_RECORD),
    ]


def test_scheduler_down_only_when_heartbeats_exist_and_none_covers_the_time(hourly, settings):
    settings.SCHEDULER_STALL_SECONDS = 120
    # No heartbeat rows at all: the data says nothing about the scheduler.
    assert outcomes(hourly, at(0), at(2), at(2)) == [(0, Outcome.NO_RECORD), (1, Outcome.NO_RECORD)]
    # One replica ran from 00:00 to 00:30, another from 01:30 on: nothing covered 01:00.
    make_heartbeat("a", at=at(0))
    SchedulerHeartbeat.objects.filter(replica_id="a").update(last_beat_at=at(0, 30))
    make_heartbeat("b", at=at(1, 30))
    assert outcomes(hourly, at(0), at(2), at(2)) == [(0, Outcome.NO_RECORD), (1, Outcome.SCHEDULER_DOWN)]


def test_the_range_stops_at_now_and_at_the_schedule_creation(hourly):
    assert outcomes(hourly, at(0) - timedelta(days=1), at(9), at(2)) == [(0, Outcome.NO_RECORD), (1, Outcome.NO_RECORD)]


def test_a_long_range_lists_the_first_rows_and_counts_the_rest(hourly, monkeypatch):
    monkeypatch.setattr("runs.why.REPORT_MAX_ROWS", 3)
    report = schedule_occurrence_report(schedule=hourly, start=at(0), end=at(10), now=at(10))
    assert [o.scheduled_for for o in report.occurrences] == [at(0), at(1), at(2)]
    assert report.left_out == 7
    # "Backfill these" covers the listed ones only.
    assert report.listed_end == at(2) + timedelta(microseconds=1)

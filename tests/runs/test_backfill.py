"""Backfill: one run per occurrence of a past range that has none, never two for one occurrence."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditAction, AuditEvent
from audit.services import Actor
from config.errors import InvalidState
from runs.firing import fire_due
from runs.models import RunStatus, ScheduleRun, TriggerType
from runs.services.backfill import schedule_backfill
from schedules.models import Schedule
from tests.constants import UTC, T0
from tests.factories import clone_schedules, make_run, make_schedule


def at(hour, minute=0, day=1):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def backfill(schedule, start, end, *, now, dry_run=False, actor=None):
    return schedule_backfill(
        schedule=schedule, start=start, end=end, actor=actor or Actor.system(), now=now, dry_run=dry_run
    )


def occurrences(schedule):
    return sorted(ScheduleRun.objects.filter(schedule=schedule, attempt=1).values_list("scheduled_for", flat=True))


@pytest.fixture
def hourly(acme, agent):
    # Created just before T0 (00:00 UTC): occurrences 00:00, 01:00, ...
    return make_schedule(acme, agent, cron_expression="0 * * * *", now=T0 - timedelta(minutes=1))


@pytest.mark.django_db
class TestBackfill:
    def test_runs_each_missing_occurrence_once_and_leaves_the_one_that_ran(self, hourly):
        fired = make_run(hourly, at=at(1), status=RunStatus.SUCCESS)

        result = backfill(hourly, at(0), at(5), now=at(5, 30))

        assert (result.expected, result.already_run, result.remaining) == (5, 1, 0)
        assert result.scheduled_for == [at(0), at(2), at(3), at(4)]
        assert occurrences(hourly) == [at(0), at(1), at(2), at(3), at(4)]
        queued = ScheduleRun.objects.exclude(pk=fired.pk)
        assert {(r.trigger_type, r.status, r.attempt) for r in queued} == {(TriggerType.BACKFILL, RunStatus.QUEUED, 1)}

        again = backfill(hourly, at(0), at(5), now=at(6))
        assert (again.expected, again.already_run, again.scheduled_for, again.runs) == (5, 5, [], [])
        assert ScheduleRun.objects.count() == 5

    def test_the_end_is_exclusive_and_nothing_before_the_schedule_existed_is_expected(self, hourly):
        result = backfill(hourly, T0 - timedelta(days=1), at(3), now=at(4))
        assert result.scheduled_for == [at(0), at(1), at(2)]

    def test_an_occurrence_at_the_instant_of_creation_is_not_expected(self, acme, agent):
        # compute_next_run_at gives the first fire strictly after creation: 00:00 never fired.
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *", now=T0)
        assert backfill(schedule, T0, at(2), now=at(3)).scheduled_for == [at(1)]

    def test_an_occurrence_skipped_for_overlap_is_not_run_again(self, hourly):
        make_run(hourly, at=at(2), status=RunStatus.SKIPPED, error_code="overlap")
        result = backfill(hourly, at(2), at(3), now=at(4))
        assert (result.already_run, result.scheduled_for) == (1, [])

    def test_the_newest_occurrence_of_a_long_outage_skipped_as_missed_runs_as_its_attempt_2(self, hourly):
        # Down from before 00:00 to 05:30 with a 10-minute catch-up window: nothing fired; one
        # skipped row at 05:00 counts the six occurrences.
        Schedule.objects.filter(pk=hourly.pk).update(catchup_window_seconds=600)
        fire_due(now=at(5, 30), batch_size=10, replica_id="late")
        skipped = ScheduleRun.objects.get()
        assert (skipped.scheduled_for, skipped.error_code, skipped.missed_count) == (at(5), "missed", 6)

        result = backfill(hourly, at(0), at(5, 30), now=at(5, 30))
        assert result.scheduled_for == [at(h) for h in range(6)]
        retry = ScheduleRun.objects.get(scheduled_for=at(5), attempt=2)
        assert (retry.trigger_type, retry.retry_of_id, retry.occurrence_key) == (
            TriggerType.BACKFILL, skipped.pk, skipped.occurrence_key,
        )
        assert backfill(hourly, at(0), at(5, 30), now=at(6)).scheduled_for == []

    def test_dry_run_lists_what_would_run_and_writes_nothing(self, hourly):
        result = backfill(hourly, at(0), at(3), now=at(4), dry_run=True)
        assert result.scheduled_for == [at(0), at(1), at(2)]
        assert result.runs == []
        assert not ScheduleRun.objects.exists()
        assert not AuditEvent.objects.filter(action=AuditAction.BACKFILL).exists()

    def test_capped_per_call_with_the_rest_counted_and_run_by_the_next_call(self, hourly, settings):
        settings.BACKFILL_MAX_RUNS = 2
        first = backfill(hourly, at(0), at(5), now=at(6))
        assert (first.scheduled_for, first.remaining) == ([at(0), at(1)], 3)
        second = backfill(hourly, at(0), at(5), now=at(6))
        assert (second.scheduled_for, second.remaining) == ([at(2), at(3)], 1)
        third = backfill(hourly, at(0), at(5), now=at(6))
        assert (third.scheduled_for, third.remaining) == ([at(4)], 0)
        assert occurrences(hourly) == [at(h) for h in range(5)]

    def test_audited_with_the_person_and_the_range(self, hourly, alice):
        backfill(hourly, at(0), at(2), now=at(3), actor=Actor(user=alice, request_id="req-1"))
        event = AuditEvent.objects.get(action=AuditAction.BACKFILL)
        assert (event.actor_label, event.schedule_id, event.request_id) == ("alice", hourly.pk, "req-1")
        assert event.after["queued"] == 2
        assert event.after["first"] == at(0).isoformat()
        assert ScheduleRun.objects.filter(triggered_by=alice).count() == 2

    @pytest.mark.parametrize(
        "start, end, now, field",
        [
            (at(3), at(3), at(4), "to"),  # empty range
            (at(3), at(2), at(4), "to"),  # reversed
            (at(0), at(5), at(4), "to"),  # reaches into the future
            (at(0) - timedelta(days=32), at(0), at(4), "to"),  # longer than BACKFILL_MAX_DAYS
            (datetime(2026, 12, 1), at(2), at(4), "from"),  # no offset
        ],
    )
    def test_bounds_are_refused_naming_the_field(self, hourly, start, end, now, field):
        with pytest.raises(ValidationError) as exc:
            backfill(hourly, start, end, now=now)
        assert field in exc.value.message_dict
        assert not ScheduleRun.objects.exists()

    def test_disabled_schedule_is_refused(self, hourly):
        Schedule.objects.filter(pk=hourly.pk).update(enabled=False)
        with pytest.raises(InvalidState, match="enable it"):
            backfill(hourly, at(0), at(2), now=at(3))

    def test_the_scheduler_catching_up_later_does_not_run_a_backfilled_occurrence_again(self, hourly):
        # The scheduler was down since before 00:00: its next_run_at is still 00:00 at 04:30.
        backfill(hourly, at(0), at(4, 30), now=at(4, 30))
        result = fire_due(now=at(4, 30), batch_size=10, replica_id="late")
        assert (result.claimed, result.written, result.collisions) == (1, 0, 1)
        assert occurrences(hourly) == [at(h) for h in range(5)]
        assert ScheduleRun.objects.count() == 5


@pytest.mark.django_db
class TestBackfillCommand:
    def test_naive_times_are_read_in_the_schedule_zone_and_dry_run_prints_the_list(self, acme, agent, fake_clock, capsys):
        # 09:00 in Shanghai is 01:00 UTC.
        schedule = make_schedule(acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai")
        fake_clock.advance(days=3)
        call_command(
            "backfill", "--schedule", str(schedule.pk), "--from", "2026-12-01T00:00", "--to", "2026-12-03T09:00",
            "--dry-run",
        )
        out = capsys.readouterr().out
        # 12-01 09:00 and 12-02 09:00 Shanghai; 12-03 09:00 is the exclusive end.
        assert "would run 2026-12-01T01:00:00+00:00" in out
        assert "would run 2026-12-02T01:00:00+00:00" in out
        assert "would run 2026-12-03" not in out
        assert "to 2026-12-03T01:00:00+00:00" in out
        assert not ScheduleRun.objects.exists()

        call_command("backfill", "--schedule", str(schedule.pk), "--from", "2026-12-01T00:00+08:00", "--to", "2026-12-03T09:00+08:00")
        assert occurrences(schedule) == [at(1), at(1, day=2)]
        assert "queued 2" in capsys.readouterr().out

    def test_errors_are_plain_messages(self, hourly, fake_clock):
        with pytest.raises(CommandError, match="no schedule"):
            call_command("backfill", "--schedule", "nope", "--from", "2026-12-01T00:00Z", "--to", "2026-12-01T01:00Z")
        with pytest.raises(CommandError, match="must not be later than now"):
            call_command("backfill", "--schedule", str(hourly.pk), "--from", "2026-12-01T00:00Z", "--to", "2026-12-02T00:00Z")
        with pytest.raises(CommandError, match="ISO 8601"):
            call_command("backfill", "--schedule", str(hourly.pk), "--from", "yesterday", "--to", "2026-12-01T00:00Z")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestBackfillAgainstAConcurrentScheduler:
    def test_every_occurrence_runs_exactly_once_while_a_scheduler_pass_fires_the_same(self, acme, agent):
        # 100 hourly schedules whose scheduler was down since 00:00. At 04:30 a scheduler pass
        # fires each one's 04:00 (catch-up) while a backfill runs 00:00-04:00 of every one.
        template = make_schedule(acme, agent, cron_expression="0 * * * *", now=T0 - timedelta(minutes=1))
        schedules = [template, *clone_schedules(template, 99)]
        now = at(4, 30)
        start = threading.Barrier(2)
        fired, backfilled, failures = [], [], []

        def scheduler():
            try:
                start.wait(10)
                fired.append(fire_due(now=now, batch_size=7, replica_id="pg-race"))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)
            finally:
                connection.close()

        def operator():
            try:
                start.wait(10)
                # Newest first, so the backfill meets the scheduler's batches head-on.
                for schedule in reversed(schedules):
                    backfilled.append(backfill(schedule, at(0), now, now=now))
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=scheduler), threading.Thread(target=operator)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []

        per_occurrence = {}
        for schedule_id, when in ScheduleRun.objects.values_list("schedule_id", "scheduled_for"):
            per_occurrence[(schedule_id, when)] = per_occurrence.get((schedule_id, when), 0) + 1
        assert len(per_occurrence) == 100 * 5
        assert set(per_occurrence.values()) == {1}
        queued_by_backfill = sum(len(r.runs) for r in backfilled)
        assert queued_by_backfill + fired[0].written == 500
        assert ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).count() == queued_by_backfill


@pytest.mark.django_db
class TestRangeSize:
    def test_a_range_with_too_many_occurrences_is_refused_with_its_count(self, acme, agent, settings):
        settings.BACKFILL_MAX_OCCURRENCES = 100
        minutely = make_schedule(acme, agent, cron_expression="* * * * *", now=T0 - timedelta(minutes=1))
        with pytest.raises(ValidationError, match="holds 120 occurrences"):
            backfill(minutely, at(0), at(2), now=at(3))
        assert len(backfill(minutely, at(0), at(1, 40), now=at(3), dry_run=True).scheduled_for) == 100

    @pytest.mark.parametrize(
        "fields",
        [
            {"cron_expression": "*/7 * * * *", "timezone": "Europe/Riga"},
            {"cron_expression": "30 2 * * *", "timezone": "America/New_York"},  # a DST gap on 2027-03-14
            {"schedule_type": "interval", "interval_seconds": 5400},
        ],
    )
    def test_the_fast_count_agrees_with_the_list(self, acme, agent, fields):
        from runs.services.backfill import count_occurrences, expected_occurrences

        schedule = make_schedule(acme, agent, now=T0 - timedelta(minutes=1), **fields)
        start, end = at(0), at(0) + timedelta(days=120, hours=5)
        assert count_occurrences(schedule, start, end) == len(expected_occurrences(schedule, start, end))
        assert count_occurrences(schedule, at(5, 1), at(5, 2)) == len(expected_occurrences(schedule, at(5, 1), at(5, 2)))

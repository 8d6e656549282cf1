"""Firing due schedules, driven by explicit times (no sleeping, nothing mocked)."""

from __future__ import annotations

import contextlib
import functools

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import translation

from runs.firing import BAD_TIMING_RETRY, claim_due_queryset, fire_due
from runs.models import RunStatus, SchedulerHeartbeat, ScheduleRun
from runs.services.create import build_run
from runs.services.ids import scheduled_job_run_id
from schedules.models import Schedule
from schedules.notify import notify_schedules_changed
from tests.constants import UTC, T0
from tests.factories import clone_schedules, make_run, make_schedule
from tests.polling import wait_until


def at(hour, minute=0, day=1):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def fire(now, batch_size=100):
    return fire_due(now=now, batch_size=batch_size, replica_id="test")


@pytest.mark.django_db
class TestFiring:
    def test_due_cron_fires_at_its_local_time_with_deterministic_job_run_id(self, acme, agent):
        # 09:00 in Shanghai is 01:00 UTC.
        schedule = make_schedule(acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai")
        assert schedule.next_run_at == at(1)

        assert fire(at(0, 59)).claimed == 0
        assert not ScheduleRun.objects.exists()

        result = fire(at(1))
        assert (result.claimed, result.queued) == (1, 1)
        run = ScheduleRun.objects.get()
        assert run.job_run_id == scheduled_job_run_id(schedule.pk, at(1), 1)
        assert (run.status, run.scheduled_for, run.attempt, run.missed_count) == (RunStatus.QUEUED, at(1), 1, 0)
        assert (run.agent_slug, run.prompt, run.org_id) == ("echo", schedule.prompt, acme.pk)
        schedule.refresh_from_db()
        assert schedule.next_run_at == at(1, day=2)
        assert schedule.last_run_at == at(1)
        assert schedule.timing_error == ""

    def test_fired_row_matches_the_shared_build_run_snapshot(self, acme, agent):
        # Firing writes its batch in one statement on PostgreSQL: the row is what build_run builds.
        schedule = make_schedule(
            acme, agent, cron_expression="0 1 * * *",
            prompt='Quote " backslash \\ comma, {braces} NULL',
            params={"region": "APAC, \"EU\"", "n": [1, 2]}, output_type="pdf",
        )
        fire(at(1))
        run = ScheduleRun.objects.get()
        schedule = Schedule.objects.select_related("agent").get(pk=schedule.pk)
        expected = build_run(schedule=schedule, scheduled_for=at(1), now=at(1))
        for field in ScheduleRun._meta.concrete_fields:
            if field.name != "id":
                assert getattr(run, field.attname) == getattr(expected, field.attname), field.name

    def test_firing_twice_at_the_same_time_writes_one_run(self, acme, agent):
        make_schedule(acme, agent, cron_expression="0 1 * * *")
        assert fire(at(1)).queued == 1
        assert fire(at(1)).claimed == 0
        assert ScheduleRun.objects.count() == 1

    def test_once_schedule_is_finished_after_it_fires(self, acme, agent):
        schedule = make_schedule(acme, agent, schedule_type="once", run_at=at(3))
        assert fire(at(3, 0)).queued == 1
        schedule.refresh_from_db()
        assert schedule.next_run_at is None
        assert schedule.enabled
        assert schedule.status == "finished"
        assert fire(at(23)).claimed == 0
        assert ScheduleRun.objects.get().scheduled_for == at(3)

    def test_catch_up_after_three_passed_occurrences_fires_newest_with_missed_count_two(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *")
        assert schedule.next_run_at == at(1)
        # The scheduler was down over 01:00, 02:00 and 03:00.
        result = fire(at(3, 30))
        assert (result.claimed, result.queued) == (1, 1)
        run = ScheduleRun.objects.get()
        assert (run.scheduled_for, run.missed_count, run.status) == (at(3), 2, RunStatus.QUEUED)
        schedule.refresh_from_db()
        assert schedule.next_run_at == at(4)

    def test_occurrences_all_outside_catch_up_window_record_one_skipped_missed_run(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *", catchup_window_seconds=600)
        # 01:00, 02:00, 03:00 passed; the newest is 30 minutes old, beyond the 10-minute window.
        result = fire(at(3, 30))
        assert (result.queued, result.skipped) == (0, 1)
        run = ScheduleRun.objects.get()
        assert run.status == RunStatus.SKIPPED
        assert run.error_code == "missed"
        assert run.missed_count == 3
        assert run.scheduled_for == at(3)
        assert run.finished_at == at(3, 30)
        assert "catch-up window" in run.error_message
        schedule.refresh_from_db()
        assert schedule.next_run_at == at(4)

    def test_overlap_policy_skip_records_skipped_run_while_one_is_active(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *", overlap_policy="skip")
        make_run(schedule, at=at(0), status=RunStatus.RUNNING)
        fire(at(1))
        run = ScheduleRun.objects.get(scheduled_for=at(1))
        assert (run.status, run.error_code) == (RunStatus.SKIPPED, "overlap")
        assert "max concurrency 1" in run.error_message

    def test_overlap_policy_queue_lets_one_wait_then_skips_the_next(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *", overlap_policy="queue")
        make_run(schedule, at=at(0), status=RunStatus.RUNNING)
        fire(at(1))
        fire(at(2))
        first, second = ScheduleRun.objects.filter(scheduled_for__in=[at(1), at(2)]).order_by("scheduled_for")
        assert (first.status, first.error_code) == (RunStatus.QUEUED, "")
        assert (second.status, second.error_code) == (RunStatus.SKIPPED, "overlap")

    def test_no_overlap_when_previous_runs_are_finished(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *", max_concurrency=2)
        make_run(schedule, at=at(0), status=RunStatus.RUNNING)
        fire(at(1))
        assert ScheduleRun.objects.get(scheduled_for=at(1)).status == RunStatus.QUEUED

    def test_disabled_agent_records_skipped_run_and_moves_on(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 * * * *")
        type(agent).objects.filter(pk=agent.pk).update(enabled=False)
        fire(at(1))
        run = ScheduleRun.objects.get()
        assert (run.status, run.error_code) == (RunStatus.SKIPPED, "agent_disabled")
        schedule.refresh_from_db()
        assert schedule.next_run_at == at(2)

    def test_bad_expression_is_pushed_forward_and_flagged_while_the_batch_goes_on(self, acme, agent):
        bad = make_schedule(acme, agent, name="bad", cron_expression="0 * * * *")
        good = make_schedule(acme, agent, name="good", cron_expression="0 * * * *")
        # A row the validator would have refused, as an old release or a manual edit leaves it.
        Schedule.objects.filter(pk=bad.pk).update(cron_expression="61 25 * * *")

        result = fire(at(1))
        assert (result.claimed, result.queued, result.flagged) == (2, 1, 1)
        bad.refresh_from_db()
        good.refresh_from_db()
        assert bad.next_run_at == at(1) + BAD_TIMING_RETRY
        assert bad.timing_error
        assert not bad.runs.exists()
        assert good.runs.count() == 1 and good.next_run_at == at(2)
        # The next pass does not trip over it again before it is due.
        assert fire(at(1, 30)).claimed == 0

    def test_a_timing_error_is_stored_in_english_whatever_language_is_active(self, acme, agent):
        bad = make_schedule(acme, agent, cron_expression="0 * * * *")
        Schedule.objects.filter(pk=bad.pk).update(cron_expression="0 25 * * *")
        with translation.override("zh-hans"):
            fire(at(1))
        bad.refresh_from_db()
        assert bad.timing_error == "ScheduleError: hour 25 is out of range 0-23"

    def test_more_due_than_one_batch_fires_every_schedule_once(self, acme, agent):
        template = make_schedule(acme, agent, cron_expression="0 1 * * *")
        clone_schedules(template, 6)
        result = fire(at(1), batch_size=3)
        assert (result.claimed, result.queued, result.batches) == (7, 7, 3)
        assert ScheduleRun.objects.count() == 7
        assert ScheduleRun.objects.values("schedule_id").distinct().count() == 7

    def test_disabled_schedule_never_fires(self, acme, agent):
        schedule = make_schedule(acme, agent, cron_expression="0 1 * * *")
        # Even with a stale next_run_at left behind, `enabled` guards the claim.
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
        assert fire(at(2)).claimed == 0


@pytest.fixture
def scheduler_at(scheduler_at, plane):
    """As the shared fixture, but dispatching to the loopback plane from one worker thread."""
    return functools.partial(scheduler_at, workers=1)


@pytest.mark.django_db(transaction=True)
class TestSchedulerPasses:
    def test_pass_fires_and_writes_heartbeat_with_counters(self, acme, agent, scheduler_at):
        make_schedule(acme, agent, cron_expression="0 1 * * *")
        scheduler = scheduler_at(at(1))
        clock = scheduler.clock
        out = scheduler.run_once(clock.now()).steps
        assert out["fire"] == 1
        beat = SchedulerHeartbeat.objects.get(replica_id="r1")
        assert (beat.last_beat_at, beat.fired_total, beat.last_error) == (at(1), 1, "")
        clock.advance(seconds=5)
        scheduler.run_once(clock.now())
        beat.refresh_from_db()
        assert (beat.last_beat_at, beat.fired_total) == (at(1) + timedelta(seconds=5), 1)

    def test_database_error_in_one_pass_does_not_kill_the_loop(self, acme, agent, scheduler_at):
        schedule = make_schedule(acme, agent, cron_expression="0 1 * * *")
        scheduler = scheduler_at(at(1))
        clock = scheduler.clock
        # A real database error: the table the claim reads is gone for one pass.
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE agent_schedules RENAME TO agent_schedules_away")
        try:
            out = scheduler.run_once(clock.now()).steps
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE agent_schedules_away RENAME TO agent_schedules")
        assert out["fire"] is None
        assert "agent_schedules" in scheduler.last_error
        assert SchedulerHeartbeat.objects.get(replica_id="r1").last_error == scheduler.last_error

        clock.advance(seconds=1)
        out = scheduler.run_once(clock.now()).steps
        assert out["fire"] == 1
        assert schedule.runs.count() == 1


@contextlib.contextmanager
def listening_loop(scheduler):
    """`scheduler.run_forever` in a thread, once it has beaten and LISTENs; stopped after."""
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(stop,))
    loop.start()
    try:
        wait_until(lambda: SchedulerHeartbeat.objects.filter(replica_id=scheduler.replica_id).exists())
        assert scheduler.listening.wait(10)
        yield
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestConcurrentFiringOnPostgres:
    def test_rows_locked_by_another_transaction_are_skipped_not_waited_for(self, acme, agent):
        template = make_schedule(acme, agent, cron_expression="0 1 * * *")
        clone_schedules(template, 29)
        locked, release, held = threading.Event(), threading.Event(), []

        def hold_a_batch():
            try:
                with transaction.atomic():
                    held.extend(s.pk for s in claim_due_queryset(now=at(1), batch_size=10))
                    locked.set()
                    release.wait(10)
            finally:
                connection.close()

        holder = threading.Thread(target=hold_a_batch)
        holder.start()
        assert locked.wait(10)
        try:
            first = fire(at(1), batch_size=7)
        finally:
            release.set()
            holder.join(10)
        assert first.claimed == 20
        assert not ScheduleRun.objects.filter(schedule_id__in=held).exists()
        second = fire(at(1), batch_size=7)
        assert second.claimed == 10
        assert ScheduleRun.objects.count() == 30
        assert ScheduleRun.objects.values("schedule_id").distinct().count() == 30

    def test_two_fire_due_in_threads_never_double_fire(self, acme, agent):
        template = make_schedule(acme, agent, cron_expression="0 1 * * *")
        clone_schedules(template, 399)
        start = threading.Barrier(2)
        results = []

        def replica(name):
            try:
                start.wait(10)
                results.append(fire_due(now=at(1), batch_size=20, replica_id=name))
            finally:
                connection.close()

        threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 2
        assert sum(r.claimed for r in results) == 400
        assert sum(r.written for r in results) == 400
        assert sum(r.collisions for r in results) == 0
        assert ScheduleRun.objects.count() == 400
        assert ScheduleRun.objects.values("schedule_id").distinct().count() == 400

    def test_a_burst_fired_by_three_threads_gets_one_run_per_schedule_and_every_schedule_moves_on(self, acme, agent):
        template = make_schedule(acme, agent, cron_expression="0 1 * * *")
        clone_schedules(template, 599)
        batches = []
        result = fire_due(now=at(1), batch_size=25, replica_id="r1", threads=3, on_batch=lambda b: batches.append(threading.current_thread().name))
        assert (result.claimed, result.written, result.collisions) == (600, 600, 0)
        assert ScheduleRun.objects.count() == 600
        assert ScheduleRun.objects.values("schedule_id").distinct().count() == 600
        assert not Schedule.objects.filter(next_run_at__lte=at(1)).exists()
        # The first batch alone, then the helpers joined in.
        assert batches[0] == threading.current_thread().name and len(set(batches)) > 1

    def test_a_quiet_pass_fires_in_the_calling_thread_only(self, acme, agent):
        """One short batch: no helper thread (nor its connection) for a trickle."""
        make_schedule(acme, agent, cron_expression="0 1 * * *")
        before = threading.active_count()
        names = []
        fire_due(now=at(1), batch_size=25, replica_id="r1", threads=3, on_batch=lambda b: names.append(threading.current_thread().name))
        assert names == [threading.current_thread().name] and threading.active_count() == before

    def test_notify_wakes_the_loop_before_the_poll_interval(self, acme, agent, scheduler_at):
        scheduler = scheduler_at(T0, poll_seconds=60)
        with listening_loop(scheduler):
            passes = scheduler.passes
            schedule = make_schedule(acme, agent, cron_expression="0 9 * * *")
            Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T0)
            notify_schedules_changed()
            # Poll interval is a minute: only the NOTIFY can make this pass happen now.
            wait_until(lambda: schedule.runs.exists())
            assert scheduler.passes > passes

    def test_disabling_a_schedule_cancels_its_waiting_retry_within_a_pass(self, acme, agent, scheduler_at):
        from audit.services import Actor
        from schedules.services import schedule_disable

        schedule = make_schedule(acme, agent, cron_expression="0 9 * * *")
        waiting = make_run(schedule, at=T0, not_before=T0 + timedelta(hours=1))  # a retry's back-off
        scheduler = scheduler_at(T0, poll_seconds=60)
        with listening_loop(scheduler):
            schedule_disable(actor=Actor.system(), schedule=schedule, now=T0)
            # Reconcile ran in the first pass and the poll interval is a minute: only the
            # disable's NOTIFY can make the next pass cancel it now.
            wait_until(lambda: ScheduleRun.objects.get(pk=waiting.pk).status == RunStatus.CANCELED)
            assert ScheduleRun.objects.get(pk=waiting.pk).error_code == "schedule_disabled"

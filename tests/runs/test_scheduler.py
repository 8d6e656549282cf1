"""The scheduler's pass (`Scheduler.run_once`) on a FakeClock: what an idle pass costs, when it
beats, and that a slow plane never holds the loop that fires schedules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import Actor
from runs.models import RunStatus, SchedulerHeartbeat, ScheduleRun
from runs.scheduler import BEAT_EVERY_SECONDS
from runs.services.manual import run_now
from schedules.models import Schedule
from tests.constants import T0, NINE
from tests.factories import make_run, make_schedule
from tests.polling import wait_until
from tests.runs.conftest import inline_dispatcher, reload


def beat_at():
    return SchedulerHeartbeat.objects.get(replica_id="r1").last_beat_at


# transaction=True: each pass calls close_old_connections(), which drops a connection left
# inside a test's wrapping transaction.
@pytest.mark.django_db(transaction=True)
class TestIdlePass:
    def test_an_idle_pass_costs_one_query_and_still_knows_when_to_wake(self, acme, agent, scheduler_at):
        for i in range(3):
            make_schedule(acme, agent, name=f"noon {i}", cron_expression="0 12 * * *")
        make_schedule(acme, agent, name="soonest", cron_expression="0 10 * * *")
        scheduler = scheduler_at(NINE, poll_seconds=7200)
        scheduler.run_once(NINE)  # the first pass writes the heartbeat

        later = NINE + timedelta(seconds=3)  # too soon for another heartbeat
        scheduler.clock.set(later)
        with CaptureQueriesContext(connection) as ctx:
            done = scheduler.run_once(later)
            wait = scheduler.wait_seconds(done)
        assert done.steps == {"fire": 0, "dispatch": 0, "reconcile": 0}
        assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
        assert "FOR UPDATE" not in ctx.captured_queries[0]["sql"]
        # 10:00 is the earliest next_run_at.
        assert wait == 3600 - 3

    def test_the_idle_cost_does_not_grow_with_finished_runs(self, acme, agent, scheduler_at):
        schedule = make_schedule(acme, agent, cron_expression="0 12 * * *")
        for minute in range(20):
            make_run(schedule, at=T0 + timedelta(minutes=minute))
        ScheduleRun.objects.update(status=RunStatus.SUCCESS, finished_at=T0 + timedelta(hours=1))
        scheduler = scheduler_at(NINE)
        scheduler.run_once(NINE)
        with CaptureQueriesContext(connection) as ctx:
            scheduler.run_once(NINE + timedelta(seconds=1))
        assert len(ctx.captured_queries) == 1

    def test_a_run_queued_between_passes_is_dispatched_by_the_next_pass(self, acme, agent, plane, scheduler_at):
        schedule = make_schedule(acme, agent, cron_expression="0 12 * * *")
        scheduler = scheduler_at(NINE)
        assert scheduler.run_once(NINE).steps["dispatch"] == 0

        run, _ = run_now(actor=Actor.system(), schedule=schedule, now=NINE)  # from the API process
        out = scheduler.run_once(NINE + timedelta(seconds=1)).steps
        assert out["dispatch"] == 1
        assert (reload(run).status, plane.unique_sessions) == (RunStatus.RUNNING, 1)

    def test_active_runs_still_get_reconciled_while_nothing_is_due(self, acme, agent, plane, settings, scheduler_at):
        settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
        run = make_run(make_schedule(acme, agent, cron_expression="0 12 * * *"), at=NINE)
        inline_dispatcher().dispatch_ready(now=NINE)
        plane.complete(reload(run).session_id, "success")
        scheduler = scheduler_at(NINE + timedelta(seconds=31))
        out = scheduler.run_once(NINE + timedelta(seconds=31)).steps
        assert out["reconcile"] == 1
        assert reload(run).status == RunStatus.SUCCESS

    def test_a_due_schedule_is_fired_by_the_pass_that_finds_it_due(self, acme, agent, scheduler_at):
        schedule = make_schedule(acme, agent, cron_expression="0 10 * * *")
        scheduler = scheduler_at(NINE)
        assert scheduler.run_once(NINE).steps["fire"] == 0
        ten = NINE + timedelta(hours=1)
        done = scheduler.run_once(ten)
        assert done.steps["fire"] == 1
        assert schedule.runs.get().scheduled_for == ten
        # Firing moved next_run_at: the wait is read anew, not from the look before firing.
        scheduler.clock.set(ten)
        assert scheduler.wait_seconds(done) == 1.0  # tomorrow's 10:00, capped at the poll interval

    def test_after_a_pass_whose_look_failed_the_wait_looks_again(self, acme, agent, scheduler_at):
        make_schedule(acme, agent, cron_expression="0 10 * * *")
        scheduler = scheduler_at(NINE, poll_seconds=7200)
        table = Schedule._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
        try:
            done = scheduler.run_once(NINE)
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
        assert (done.look, done.steps["fire"]) == (None, None)
        # Not the poll interval a failed look would suggest: 10:00 is an hour away.
        assert scheduler.wait_seconds(done) == 3600


@pytest.mark.django_db(transaction=True)
class TestHeartbeat:
    def test_an_idle_replica_beats_every_five_seconds(self, acme, scheduler_at):
        scheduler = scheduler_at(NINE)
        scheduler.run_once(NINE)
        assert beat_at() == NINE
        for seconds in (1, 2, 4.9):
            scheduler.run_once(NINE + timedelta(seconds=seconds))
            assert beat_at() == NINE
        scheduler.run_once(NINE + timedelta(seconds=BEAT_EVERY_SECONDS))
        assert beat_at() == NINE + timedelta(seconds=BEAT_EVERY_SECONDS)

    def test_a_replica_that_fired_beats_again_after_a_second_with_its_new_totals(self, acme, agent, scheduler_at):
        make_schedule(acme, agent, cron_expression="0 9 * * *")
        scheduler = scheduler_at(NINE - timedelta(seconds=1))
        scheduler.run_once(NINE - timedelta(seconds=1))
        scheduler.run_once(NINE)  # fires; the beat is 1 s old
        beat = SchedulerHeartbeat.objects.get(replica_id="r1")
        assert (beat.last_beat_at, beat.fired_total) == (NINE, 1)

    def test_the_last_beat_on_shutdown_carries_the_totals(self, acme, agent, scheduler_at):
        make_schedule(acme, agent, cron_expression="0 9 * * *")
        scheduler = scheduler_at(NINE - timedelta(seconds=0.5))
        scheduler.run_once(NINE - timedelta(seconds=0.5))
        scheduler.clock.set(NINE + timedelta(seconds=0.3))
        scheduler.run_once(NINE + timedelta(seconds=0.3))  # fires, but too soon to beat
        assert SchedulerHeartbeat.objects.get(replica_id="r1").fired_total == 0
        scheduler.shutdown()
        assert SchedulerHeartbeat.objects.get(replica_id="r1").fired_total == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_plane_hanging_on_a_poll_does_not_delay_firing(acme, agent, plane, settings, scheduler_at):
    # Inline, the hung poll would hold the pass for the whole plane timeout.
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 20
    settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
    silent = make_run(make_schedule(acme, agent, name="silent", cron_expression="0 12 * * *"), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    session_id = reload(silent).session_id
    due = make_schedule(acme, agent, name="due", cron_expression="1 9 * * *")
    poll_path = f"/sessions/{session_id}"

    plane.delay_seconds = 60  # every answer is held until release()
    answered = len(plane.requests)

    def still_waiting():
        """Every plane call made since the answers were held is still on a worker thread."""
        return scheduler._dispatcher._inflight == len(plane.requests) - answered

    scheduler = scheduler_at(NINE + timedelta(seconds=31), workers=2)
    try:
        scheduler.run_once(NINE + timedelta(seconds=31))  # no callback for 31 s: reconcile polls
        wait_until(lambda: any(r["path"] == poll_path for r in plane.requests), what="the poll to reach the plane")
        # The pass is over while the plane holds the poll's answer: the call waits on a worker.
        wait_until(still_waiting, what="the poll to be the one call in flight")

        fire_at = NINE + timedelta(minutes=1)
        scheduler.clock.set(fire_at)
        out = scheduler.run_once(fire_at).steps

        assert out["fire"] == 1
        assert due.runs.get().status == RunStatus.QUEUED
        # No pass waited for a call to end: the poll (and any start) is still on its worker.
        wait_until(still_waiting, what="every held call to be in flight")
        # The poll is still hanging: nothing has come back from the plane yet.
        assert reload(silent).status == RunStatus.RUNNING
    finally:
        plane.release()

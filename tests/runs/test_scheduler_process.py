"""The scheduler as real processes: `manage.py run_scheduler` replicas against the test
PostgreSQL database and a loopback execution plane.

Nothing waits a fixed time: each step polls the database (or the plane) until a condition
holds, with a deadline. Times that would need real waiting (three missed occurrences) are
made by moving the schedule's stored times back instead of moving the clock forward.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import functools
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from config import clock as clock_module
from config.clock import FakeClock
from runs.models import RunStatus, SchedulerHeartbeat, ScheduleRun
from runs.services.ids import scheduled_job_run_id
from schedules.models import Schedule
from tests import polling
from tests.constants import UTC
from tests.factories import clone_schedules, make_schedule

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


# Processes start Django and PostgreSQL connections: a generous deadline for a loaded CI box.
wait_until = functools.partial(polling.wait_until, deadline=30.0)


class SchedulerProcess(polling.LoggedProcess):
    """One `manage.py run_scheduler` replica on the test database."""

    def __init__(self, name: str, tmp_path: Path, plane_url: str = "", *args: str, env: dict | None = None):
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        db = connection.settings_dict
        url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        full_env = {
            **os.environ,
            "DATABASE_URL": url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            # Long enough that a plane call (which gets half of it) never times out on a busy
            # machine; the kill -9 test, which waits for a lease to lapse, sets 2.
            "SCHEDULER_LEASE_SECONDS": "20",
            "EXECUTION_PLANE_TIMEOUT_SECONDS": "30",
            **({"EXECUTION_PLANE_URL": plane_url, "EXECUTION_PLANE": "http"} if plane_url else {}),
            "EXECUTION_PLANE_SECRET": "plane-test-secret",
            **(env or {}),
        }
        cmd = [sys.executable, str(ROOT / "manage.py"), "run_scheduler", "--id", name, "--poll-seconds", "0.2", *args]
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()


@pytest.fixture
def replicas(tmp_path):
    started: list[SchedulerProcess] = []

    def start(name, plane_url="", *args, **kwargs):
        proc = SchedulerProcess(name, tmp_path, plane_url, *args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()


def due_once_schedules(org, agent, count: int, *, due_at: datetime) -> list[Schedule]:
    """`count` once-schedules due at `due_at` (raw rows: a past run_at would not validate).

    `once` so that a slow test crossing a minute boundary cannot fire them a second time.
    """
    now = datetime.now(UTC)
    template = make_schedule(org, agent, schedule_type="once", run_at=now + timedelta(days=1), now=now)
    clones = clone_schedules(template, count, name="once", run_at=due_at, next_run_at=due_at)
    template.delete()
    return clones


def test_three_replicas_fire_500_due_schedules_exactly_once_each(acme, agent, plane, replicas):
    acme.max_concurrent_runs = 1000
    acme.save()
    due_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedules = due_once_schedules(acme, agent, 500, due_at=due_at)

    procs = [replicas(f"r{i}", plane.url, "--batch-size", "50", "--workers", "4") for i in range(3)]
    wait_until(
        lambda: ScheduleRun.objects.exclude(session_id="").count() == 500,
        deadline=90, what="500 runs accepted by the plane", procs=procs,
    )
    for proc in procs:
        assert proc.stop() == 0, proc.output()

    assert ScheduleRun.objects.count() == 500
    assert ScheduleRun.objects.values("schedule_id").distinct().count() == 500
    expected = {scheduled_job_run_id(s.pk, due_at, 1) for s in schedules}
    assert set(ScheduleRun.objects.values_list("job_run_id", flat=True)) == expected
    assert plane.unique_sessions == 500
    assert {s.job_run_id for s in plane.sessions.values()} == expected
    assert not Schedule.objects.filter(next_run_at__isnull=False).exists()
    beats = {b.replica_id: b for b in SchedulerHeartbeat.objects.all()}
    assert set(beats) == {"r0", "r1", "r2"}
    assert sum(b.fired_total for b in beats.values()) == 500


def test_restart_after_three_missed_occurrences_fires_once_with_missed_count_two(acme, agent, plane, replicas):
    schedule = make_schedule(acme, agent, schedule_type="interval", interval_seconds=3600, now=datetime.now(UTC))
    first = replicas("r1", plane.url)
    wait_until(lambda: SchedulerHeartbeat.objects.filter(replica_id="r1").exists(), what="first heartbeat", procs=[first])
    assert first.stop() == 0, first.output()
    assert not schedule.runs.exists()

    # While it was down, three hourly occurrences passed: the anchor is 3.5 h ago and the
    # stored next_run_at is the first occurrence after it, as the stopped scheduler left it.
    now = datetime.now(UTC)
    anchor = now.replace(microsecond=0) - timedelta(hours=3, minutes=30)
    Schedule.objects.filter(pk=schedule.pk).update(created_at=anchor, next_run_at=anchor + timedelta(hours=1))

    second = replicas("r1", plane.url)
    run = wait_until(lambda: schedule.runs.first(), what="the catch-up run", procs=[second])
    wait_until(lambda: SchedulerHeartbeat.objects.get(replica_id="r1").fired_total >= 1, procs=[second])
    assert second.stop() == 0, second.output()

    assert schedule.runs.count() == 1
    run.refresh_from_db()
    assert run.scheduled_for == anchor + timedelta(hours=3)
    assert run.missed_count == 2
    schedule.refresh_from_db()
    assert schedule.next_run_at == anchor + timedelta(hours=4)
    assert schedule.next_run_at > now


def test_kill_9_mid_dispatch_another_replica_finishes_with_the_same_job_run_id(acme, agent, plane, replicas):
    (schedule,) = due_once_schedules(acme, agent, 1, due_at=datetime.now(UTC).replace(microsecond=0))
    # The plane holds its answer: the first replica dies while the call is in flight.
    plane.delay_seconds = 60
    doomed = replicas("doomed", plane.url, env={"SCHEDULER_LEASE_SECONDS": "2"})
    wait_until(lambda: plane.unique_sessions == 1, what="the plane to receive the call", procs=[doomed])
    doomed.kill()
    assert doomed.returncode == -signal.SIGKILL
    run = ScheduleRun.objects.get()
    assert (run.status, run.session_id, run.lease_owner) == (RunStatus.QUEUED, "", "doomed")

    plane.delay_seconds = 0
    plane.release()
    survivor = replicas("survivor", plane.url, env={"SCHEDULER_LEASE_SECONDS": "2"})
    wait_until(
        lambda: ScheduleRun.objects.filter(pk=run.pk).exclude(session_id="").exists(),
        deadline=30, what="the survivor to dispatch the run after the lease expired", procs=[survivor],
    )
    assert survivor.stop() == 0, survivor.output()

    run.refresh_from_db()
    assert ScheduleRun.objects.count() == 1
    assert run.job_run_id == scheduled_job_run_id(schedule.pk, schedule.next_run_at, 1)
    assert run.status == RunStatus.RUNNING
    assert plane.unique_sessions == 1
    assert run.session_id == plane.session_for(run.job_run_id).session_id
    keys = [r["idempotency_key"] for r in plane.requests if r["method"] == "POST" and r["path"] == "/sessions"]
    assert keys == [run.job_run_id, run.job_run_id]


def test_sigterm_mid_firing_exits_zero_with_nothing_half_written(acme, agent, plane, replicas):
    acme.max_concurrent_runs = 5000
    acme.save()
    due_once_schedules(acme, agent, 3000, due_at=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1))
    proc = replicas("r1", plane.url, "--batch-size", "25", "--workers", "2")
    wait_until(lambda: ScheduleRun.objects.exists(), what="the first batch", procs=[proc])
    assert proc.stop(signal.SIGTERM) == 0, proc.output()
    assert '"scheduler.stopped"' in proc.output()
    # A clean stop reads as one: nothing at error level (the event loop's idle callers and
    # connections are closed, not destroyed pending).
    assert '"level": "error"' not in proc.output(), proc.output()

    # Firing: a schedule is either fired (finished, one run) or untouched (still due, no run).
    fired = Schedule.objects.filter(next_run_at__isnull=True)
    assert ScheduleRun.objects.count() == fired.count()
    assert not fired.filter(runs__isnull=True).exists()
    assert not Schedule.objects.filter(next_run_at__isnull=False, runs__isnull=False).exists()
    # Dispatch: every session the plane started is recorded on its run (in-flight calls were
    # finished before the exit), and no run claims a session the plane does not know.
    recorded = dict(ScheduleRun.objects.exclude(session_id="").values_list("job_run_id", "session_id"))
    started = {s.job_run_id: s.session_id for s in plane.sessions.values()}
    assert recorded == started


def test_a_clean_restart_reads_healthy_not_degraded(replicas, settings):
    """SIGTERM to one replica, a new one in its place: health is 0, not 2 for twenty minutes."""
    first = replicas("r1")
    wait_until(lambda: SchedulerHeartbeat.objects.filter(replica_id="r1").exists(), what="r1's beat", procs=[first])
    assert first.stop(signal.SIGTERM) == 0, first.output()
    retired = SchedulerHeartbeat.objects.get(replica_id="r1")
    assert retired.stopped_at is not None

    second = replicas("r2")
    # Read the health at r2's beat, a stall period past r1's last one: a replica silent that
    # long used to be listed as stale ("degraded", exit 2).
    settings.SCHEDULER_STALL_SECONDS = 2
    later = retired.last_beat_at + timedelta(seconds=3)
    wait_until(
        lambda: SchedulerHeartbeat.objects.filter(replica_id="r2", last_beat_at__gt=later).exists(),
        what="r2 beating a stall period after r1 stopped", procs=[second],
    )
    at = SchedulerHeartbeat.objects.get(replica_id="r2").last_beat_at + timedelta(seconds=1)
    out = StringIO()
    with clock_module.use(FakeClock(at)), pytest.raises(SystemExit) as exited:
        call_command("check_scheduler_health", stdout=out)
    health = json.loads(out.getvalue())
    assert (exited.value.code, health["status"], health["replicas_stale"]) == (0, "healthy", []), health
    assert health["replicas_fresh"] == ["r2"]
    assert second.stop(signal.SIGINT) == 0, second.output()

"""The scale check of the fault suite: three scheduler replicas, 300 once-schedules due at the
same instant, a plane that closes the connection after every answer (HTTP/1.0, as
`http.server` speaks it). Every occurrence gets exactly one session and no run the plane
accepted is recorded as failed (on the old transport, 63 of 300 were, and ran twice).

`make faults` runs it at 300 (FAULTS_FULL=1); `make test` at 60.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from config.clock import FakeClock
from runs.models import RunStatus, ScheduleRun
from runs.scheduler import Scheduler
from tests import polling
from tests.constants import T0
from tests.factories import clone_schedules, make_agent, make_org, make_schedule
from tests.faults.harness import SECRET, Row
from tests.plane_server import PlaneServer

FULL = os.environ.get("FAULTS_FULL") == "1"
SCHEDULES = 300 if FULL else 60
REPLICAS = 3

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_three_replicas_and_a_connection_close_plane_give_one_session_per_occurrence(settings, fault_rows):
    plane = PlaneServer(secret=SECRET, http10=True).start()
    settings.EXECUTION_PLANE = "http"
    settings.EXECUTION_PLANE_URL = plane.url
    settings.EXECUTION_PLANE_SECRET = SECRET
    org = make_org("scale", max_concurrent_runs=SCHEDULES)
    template = make_schedule(org, make_agent(org), schedule_type="once", run_at=T0, now=T0 - timedelta(hours=1))
    clone_schedules(template, SCHEDULES - 1)
    fake = FakeClock(T0)
    replicas = [Scheduler(replica_id=f"r{i}", batch_size=100, poll_seconds=0.05, workers=4, clock=fake) for i in range(REPLICAS)]
    stop = threading.Event()
    started = time.monotonic()

    def loop(scheduler):
        try:
            while not stop.is_set():
                scheduler.run_once(fake.now())
                stop.wait(0.05)
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(r,), daemon=True) for r in replicas]
    for thread in threads:
        thread.start()
    try:
        polling.wait_until(
            lambda: ScheduleRun.objects.filter(status=RunStatus.RUNNING).exclude(session_id="").count() >= SCHEDULES
            or ScheduleRun.objects.filter(status=RunStatus.FAILED).exists(),
            deadline=120, what=f"{SCHEDULES} runs accepted by the plane",
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for scheduler in replicas:
            scheduler.shutdown(wait=True)
        plane.stop()

    runs = ScheduleRun.objects.all()
    assert not runs.filter(status=RunStatus.FAILED).exists(), list(runs.filter(status=RunStatus.FAILED).values_list("error_code", "error_message")[:5])
    assert runs.count() == SCHEDULES and not runs.filter(attempt__gt=1).exists()
    assert plane.unique_sessions == SCHEDULES
    assert sorted({s.job_run_id for s in plane.sessions.values()}) == sorted(runs.values_list("job_run_id", flat=True))
    row = Row(f"scale: {REPLICAS} replicas, Connection: close", "http10", SCHEDULES, sessions=[1] * SCHEDULES)
    row.runs = row.final_runs = SCHEDULES  # accepted (running), none failed
    row.seconds_to_final = [elapsed]
    fault_rows.append(row)

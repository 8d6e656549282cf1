"""The org limit holds across replicas: three dispatchers in threads, each with its own
PostgreSQL connection, racing to admit runs of one org while the plane holds sessions open."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client

from runs.dispatch import Dispatcher
from runs.models import RunStatus, ScheduleRun
from tests.constants import NINE
from tests.factories import make_agent, make_org, make_run, make_schedule
from tests.polling import wait_until

LIMIT = 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_dispatchers_never_run_more_than_the_org_limit(plane, settings):
    # The start hook below queries the database before the plane answers; on a busy machine
    # that can pass the fixture's 0.5 s call timeout, which this test is not about.
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 10
    org = make_org("limited", max_concurrent_runs=LIMIT)
    agent = make_agent(org, "echo")
    schedules = [make_schedule(org, agent, name=f"s{i}", max_concurrency=1, overlap_policy="queue") for i in range(4)]
    runs = [make_run(s, at=NINE + timedelta(seconds=i)) for i in range(3) for s in schedules]
    total = len(runs)

    samples = []  # (running in the database, open plane sessions, open sessions of that schedule)

    def on_session_start(session):
        # In the plane's handler thread, as each new session starts: what is running right now?
        try:
            running = ScheduleRun.objects.filter(org=org, status=RunStatus.RUNNING).count()
        finally:
            connection.close()
        schedule_id = session.request["metadata"]["schedule_id"]
        open_all = session.open_at_start
        same_schedule = sum(1 for s in open_all if s.request["metadata"]["schedule_id"] == schedule_id)
        samples.append((running, len(open_all), same_schedule))

    plane.on_session_start = on_session_start
    stop = threading.Event()
    errors = []

    def replica(n):
        dispatcher = Dispatcher(replica_id=f"replica-{n}", workers=2)
        try:
            while not stop.is_set():
                dispatcher.dispatch_ready(now=NINE + timedelta(seconds=5))
                stop.wait(0.002)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            dispatcher.shutdown(wait=True)
            connections.close_all()

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    client = Client()
    try:
        finished = 0
        while finished < total:
            # Let the replicas fill every free slot, then free one (oldest first) by callback.
            left = total - finished
            wait_until(lambda: plane.open_sessions() >= min(LIMIT, left), deadline=20, what="the replicas to fill the slots")
            with plane.lock:
                oldest = min((s for s in plane.sessions.values() if s.status == "running"), key=lambda s: s.started)
            wait_until(
                lambda: ScheduleRun.objects.filter(job_run_id=oldest.job_run_id, status=RunStatus.RUNNING).exists(),
                deadline=20,
                what="the run to be marked running",
            )
            plane.complete(oldest.session_id, "success")
            assert plane.send_callback(oldest.session_id, client=client).json() == {"status": "applied"}
            finished += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert not errors
    assert len(samples) == total == plane.unique_sessions  # one session per run, no duplicates
    assert max(s[0] for s in samples) <= LIMIT - 1  # the new one is not running yet
    assert max(s[1] for s in samples) == plane.max_open == LIMIT  # the limit was reached, never passed
    assert max(s[2] for s in samples) == 1  # each schedule's max_concurrency too
    assert ScheduleRun.objects.filter(status=RunStatus.SUCCESS).count() == total
    owners = set(ScheduleRun.objects.values_list("lease_owner", flat=True))
    assert len(owners) >= 2, f"only {owners} dispatched: the race was not exercised"

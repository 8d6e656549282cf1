"""Concurrent writes in one org never deadlock.

A load test (32 users mixing create, patch and run-now, with the scheduler running) once got
a hundred `deadlock detected ... while locking tuple in relation "schedules_organization"`:
the schedule writes locked the org and agent rows FOR UPDATE through `select_related`, every
foreign-key check on the org (each insert of a schedule, run or audit event) waited on them,
and the dispatcher's FOR UPDATE on the org joined the cycles. Here the same mix runs from
threads, each on its own PostgreSQL connection, for a bounded number of iterations.
"""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connections

from audit.services import Actor
from runs.services import lifecycle as run_lifecycle
from runs.services import manual as run_manual
from runs.admission import busy_q
from runs.dispatch import Dispatcher
from runs.models import RunStatus, ScheduleRun
from schedules import services as schedule_services
from tests.constants import NINE
from tests.factories import make_agent, make_org, make_schedule, make_user

LIMIT = 2
ITERATIONS = 25


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_patch_create_run_now_and_admission_in_one_org_never_deadlock(plane):
    org = make_org("busy", max_concurrent_runs=LIMIT)
    agent = make_agent(org, "echo")
    actor = Actor(user=make_user("alice", org, "admin"))
    schedules = [make_schedule(org, agent, name=f"s{i}", actor=actor) for i in range(4)]
    errors: list[str] = []
    busy_seen: list[int] = []

    def patch(rng, i):
        data = {"prompt": f"Summarise sales, take {i}"}
        schedule_services.schedule_update(actor=actor, schedule=rng.choice(schedules), data=data, now=NINE)

    def toggle(rng, i):
        # `enabled` through an update: the disable path, which also cancels waiting runs.
        data = {"enabled": i % 2 == 1}
        schedule_services.schedule_update(actor=actor, schedule=rng.choice(schedules), data=data, now=NINE)

    def create(rng, i):
        data = {"agent": agent, "name": f"new {i}", "prompt": "p", "schedule_type": "cron", "cron_expression": "0 9 * * *"}
        schedule_services.schedule_create(actor=actor, org=org, data=data, now=NINE)

    def run_now(rng, i):
        run_manual.run_now(actor=actor, schedule=rng.choice(schedules), now=NINE)

    def admit_with(replica):
        dispatcher = Dispatcher(replica_id=replica, workers=0)

        def admit(rng, i):
            dispatcher.dispatch_ready(now=NINE)
            busy_seen.append(ScheduleRun.objects.filter(busy_q(NINE), org=org).count())

        return admit

    def finish():
        # The plane's answers, for as long as the others write: running runs end, freeing
        # their org slots for the next admissions.
        for run_id in ScheduleRun.objects.filter(org=org, status=RunStatus.RUNNING).values_list("id", flat=True):
            run_lifecycle.run_finish(run_id=run_id, status=RunStatus.SUCCESS, now=NINE)

    writers = {
        "patch": patch,
        "toggle": toggle,
        "create": create,
        "run-now": run_now,
        "admit-1": admit_with("replica-1"),
        "admit-2": admit_with("replica-2"),
    }
    start = threading.Barrier(len(writers) + 1)
    done = threading.Event()

    def attempt(name, step, *args):
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    def writer(name, step):
        rng = random.Random(name)
        try:
            start.wait(timeout=10)
            for i in range(ITERATIONS):
                attempt(name, step, rng, i)
        finally:
            connections.close_all()

    def finisher():
        try:
            start.wait(timeout=10)
            while not done.is_set():
                attempt("finish", finish)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=item) for item in writers.items()]
    finishing = threading.Thread(target=finisher)
    for thread in (*threads, finishing):
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    finishing.join(timeout=30)

    assert not any(thread.is_alive() for thread in (*threads, finishing)), "a writer is still stuck on a lock"
    assert errors == []
    assert busy_seen and max(busy_seen) <= LIMIT
    assert ScheduleRun.objects.filter(org=org, status=RunStatus.SUCCESS).exists(), "no run was admitted"

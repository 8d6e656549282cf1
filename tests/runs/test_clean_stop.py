"""A clean stop (`Scheduler.shutdown`, what SIGTERM/SIGINT lead to): the replica gives back the
queued runs still leased to it and retires its heartbeat, so a rolling restart reads as
nothing wrong (runs/retire.py). The real-process version is in test_scheduler_process.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import RunStatus, SchedulerHeartbeat
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import reload

# transaction=True: each pass calls close_old_connections() (see tests/runs/test_scheduler.py).
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clean_stop_gives_back_its_queued_leases_and_another_replica_sends_them_at_once(
    acme, agent, plane, settings, scheduler_at
):
    settings.SCHEDULER_LEASE_SECONDS = 60
    held = make_run(make_schedule(acme, agent, name="held"), at=NINE)
    elsewhere = make_run(make_schedule(acme, agent, name="elsewhere"), at=NINE)
    lease_until = NINE + timedelta(seconds=60)
    # Admitted by r1, whose pool closed before the plane call started; the other by r3, alive.
    type(held).objects.filter(pk=held.pk).update(lease_owner="r1", lease_expires_at=lease_until)
    type(held).objects.filter(pk=elsewhere.pk).update(lease_owner="r3", lease_expires_at=lease_until)

    scheduler_at(NINE, replica_id="r1").shutdown()
    assert (reload(held).lease_owner, reload(held).lease_expires_at) == ("", None)
    assert reload(elsewhere).lease_owner == "r3"
    assert SchedulerHeartbeat.objects.get(replica_id="r1").stopped_at == NINE

    # Within the lease r1 had: r2 sends it now, under its one job_run_id.
    scheduler_at(NINE + timedelta(seconds=1), replica_id="r2").run_once(NINE + timedelta(seconds=1))
    assert reload(held).status == RunStatus.RUNNING
    assert reload(elsewhere).status == RunStatus.QUEUED
    assert [s.job_run_id for s in plane.sessions.values()] == [held.job_run_id]


def test_a_running_run_keeps_its_poll_lease_across_a_clean_stop(acme, agent, scheduler_at):
    poll_at = NINE + timedelta(minutes=5)
    run = make_run(make_schedule(acme, agent), at=NINE, status=RunStatus.RUNNING)
    type(run).objects.filter(pk=run.pk).update(session_id="s-1", started_at=NINE, lease_owner="r1", lease_expires_at=poll_at)
    scheduler_at(NINE, replica_id="r1").shutdown()
    # The lease of a running run is when it is next polled: any replica polls it then.
    assert (reload(run).lease_owner, reload(run).lease_expires_at) == ("r1", poll_at)


def test_a_replica_restarted_under_the_same_name_beats_again(acme, scheduler_at):
    scheduler_at(NINE, replica_id="host-a").shutdown()
    assert SchedulerHeartbeat.objects.get(replica_id="host-a").stopped_at == NINE
    later = NINE + timedelta(minutes=1)
    scheduler_at(later, replica_id="host-a").run_once(later)
    beat = SchedulerHeartbeat.objects.get(replica_id="host-a")
    assert (beat.last_beat_at, beat.stopped_at) == (later, None)

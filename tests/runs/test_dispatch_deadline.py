"""A plane call ends while its lease holds, and what it writes afterwards needs that lease.

The plane here is the real loopback server; a slow one drips its answer a byte at a time, so
every read beats the read timeout while the call as a whole runs past the lease.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

import pytest

from audit.services import Actor
from config.clock import SystemClock
from runs.models import RunStatus, ScheduleRun
from runs.reconcile import reconcile
from runs.services.manual import run_now
from tests import polling
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_plane_dripping_its_answer_gets_one_create_call_per_run(acme, agent, plane, settings):
    """Was: one run-now, four POST /sessions, as each lapsed lease let a pass send it again."""
    from runs.scheduler import Scheduler

    settings.SCHEDULER_LEASE_SECONDS = 2
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 30  # each dripped byte comes well within it
    plane.drip_seconds = 0.03  # the create answer (about 150 bytes) takes 4 to 5 s: two leases
    now = functools.partial(datetime.now, timezone.utc)
    schedule = make_schedule(acme, agent, schedule_type="once", run_at=now() + timedelta(days=1), now=now())
    run, _ = run_now(actor=Actor.system(), schedule=schedule, now=now())
    scheduler = Scheduler(replica_id="drip", batch_size=10, poll_seconds=0.1, workers=2, clock=SystemClock())

    def settled():
        # What run_forever does, pass after pass: fire, dispatch, reconcile (expired leases).
        scheduler.run_once(now())
        return reload(run).status != RunStatus.QUEUED

    try:
        polling.wait_until(settled, deadline=20, what="the run to leave `queued`")
    finally:
        plane.release()  # the rest of any dripping answer at once
        scheduler.shutdown(wait=True)

    run = reload(run)
    assert plane.create_calls == 1
    # Cut at half the lease (1 s, less what it waited for a worker), while the lease still
    # held. The plane may have started it: the attempt is kept, to be sent again (same key).
    assert (run.status, run.session_id, run.error_code) == (RunStatus.RUNNING, "", "plane_timeout")
    assert ScheduleRun.objects.count() == 1
    waited = float(re.search(r"no complete answer within ([\d.]+) s$", run.error_message)[1])
    assert 0.5 <= waited <= 1


def test_a_call_that_outlived_its_lease_does_not_undo_the_dispatch_that_took_over(acme, agent, plane, settings):
    settings.SCHEDULER_LEASE_SECONDS = 60
    run = make_run(make_schedule(acme, agent), at=NINE)
    later = NINE + timedelta(seconds=61)

    class LeaseLapsesDuringTheCall:
        """The real client, on a call so slow that replica B takes the run over meanwhile."""

        synchronous = False

        def __init__(self, real):
            self.real = real

        def start(self, run, **kwargs):
            assert reconcile(now=later, replica_id="replica-b") == 1  # A's lease expired
            assert inline_dispatcher("replica-b").dispatch_ready(now=later) == 1
            plane.fail_with = 503  # and A's own call ends in an error
            return self.real.start(run, **kwargs)

    from runs.plane import get_client

    assert inline_dispatcher("replica-a", client=LeaseLapsesDuringTheCall(get_client())).dispatch_ready(now=NINE) == 1

    run = reload(run)
    assert (run.status, run.session_id, run.lease_owner) == (RunStatus.RUNNING, "sess-000001", "replica-b")
    assert run.error_code == ""
    assert not ScheduleRun.objects.filter(retry_of=run).exists()  # no second session on the way
    assert plane.unique_sessions == 1

"""An attempt whose outcome stays unknown: sent again with the same key until the schedule's
timeout, which ends it `timeout` with the last error the plane calls met."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.reconcile import reconcile
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.faults.proxy import Fault, FaultProxy
from tests.runs.conftest import inline_dispatcher, plane, reload  # noqa: F401 - the plane fixture

pytestmark = pytest.mark.django_db


def test_a_gateway_answering_503_until_the_timeout_ends_the_run_timeout_with_plane_http_503(acme, agent, plane, settings):
    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    settings.EXECUTION_PLANE_URL = proxy.url
    proxy.inject(Fault.UNAVAILABLE, times=None, match="POST /sessions")
    schedule = make_schedule(acme, agent, timeout_seconds=120)
    run = make_run(schedule, at=NINE)
    try:
        inline_dispatcher().dispatch_ready(now=NINE)
        assert (reload(run).status, reload(run).error_code) == (RunStatus.RUNNING, "plane_http_503")
        for tick in (31, 62, 93):
            reconcile(now=NINE + timedelta(seconds=tick), replica_id="r1")
            assert reload(run).status == RunStatus.RUNNING  # still waiting for a word
        reconcile(now=NINE + timedelta(seconds=121), replica_id="r1")
    finally:
        proxy.stop()

    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, "plane_http_503")
    assert "within 120 s" in run.error_message and "answered 503" in run.error_message
    # The same key every time (1 + 3 resends), and never a second attempt while it was unknown.
    assert proxy.applied[Fault.UNAVAILABLE] == 4
    assert plane.unique_sessions == 0
    retry = ScheduleRun.objects.get(retry_of=run)
    assert retry.attempt == 2 and retry.status == RunStatus.QUEUED  # the timeout's retry, per the policy


def test_a_running_callback_names_the_session_of_an_attempt_whose_create_answer_was_lost(acme, agent, plane, client, settings):
    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    settings.EXECUTION_PLANE_URL = proxy.url
    proxy.inject(Fault.GATEWAY_TIMEOUT, match="POST /sessions")  # the plane starts it; we hear 504
    run = make_run(make_schedule(acme, agent), at=NINE)
    try:
        inline_dispatcher().dispatch_ready(now=NINE)
    finally:
        proxy.stop()
    assert (reload(run).status, reload(run).session_id) == (RunStatus.RUNNING, "")
    [session] = plane.sessions.values()

    answer = plane.send_callback(session.session_id, client=client)  # status "running"

    assert answer.json() == {"status": "applied"}
    run = reload(run)
    assert (run.status, run.session_id, run.error_code) == (RunStatus.RUNNING, session.session_id, "")
    reconcile(now=NINE + timedelta(seconds=31), replica_id="r1")  # no resend: the session is known
    assert plane.create_calls == 1 and plane.unique_sessions == 1

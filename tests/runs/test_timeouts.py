"""Timeouts: reconcile compares each running run's deadline (started_at + its schedule's
timeout_seconds) in the database; these pin that comparison on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.plane import get_client
from runs.reconcile import time_out_runs
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def _inline(fn, *args):
    fn(*args)


def test_each_running_run_times_out_at_its_own_schedules_timeout(acme, agent, plane):
    runs = {
        timeout: make_run(make_schedule(acme, agent, name=f"Timeout {timeout}", timeout_seconds=timeout), at=NINE)
        for timeout in (60, 600, 601, 3600)
    }
    inline_dispatcher().dispatch_ready(now=NINE)
    assert {reload(run).status for run in runs.values()} == {RunStatus.RUNNING}
    # Started at the same instant (the dispatcher stamps the clock's time, which moves on).
    ScheduleRun.objects.update(started_at=NINE)

    # 600 s after they started: the 60 s run is past its deadline, the 600 s run is at it
    # (a deadline that has come counts), the 601 s and one-hour runs still have time.
    assert time_out_runs(now=NINE + timedelta(seconds=600), client=get_client(), submit=_inline) == 2
    statuses = {timeout: reload(run).status for timeout, run in runs.items()}
    assert statuses == {60: RunStatus.TIMEOUT, 600: RunStatus.TIMEOUT, 601: RunStatus.RUNNING, 3600: RunStatus.RUNNING}
    assert "still running 60 s after it started" in runs[60].error_message
    assert runs[600].error_code == "timeout"
    assert plane.session_for(runs[60].job_run_id).cancel_requested
    assert not plane.session_for(runs[601].job_run_id).cancel_requested

    assert time_out_runs(now=NINE + timedelta(seconds=601), client=get_client(), submit=_inline) == 1
    assert reload(runs[601]).status == RunStatus.TIMEOUT
    assert reload(runs[3600]).status == RunStatus.RUNNING
    # Each timed-out attempt was timed out once (and retried once), whatever the passes.
    assert ScheduleRun.objects.filter(status=RunStatus.TIMEOUT).count() == 3


def test_an_attempt_never_answered_times_out_with_the_last_plane_error(acme, agent, plane):
    schedule = make_schedule(acme, agent, timeout_seconds=120)
    run = make_run(schedule, at=NINE)
    # Sent, no answer said whether the plane started it (the ambiguity rule): running, no session.
    ScheduleRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=NINE, error_code="plane_http_502", error_message="502 Bad Gateway"
    )

    assert time_out_runs(now=NINE + timedelta(seconds=119), client=get_client(), submit=_inline) == 0
    assert time_out_runs(now=NINE + timedelta(seconds=120), client=get_client(), submit=_inline) == 1
    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, "plane_http_502")
    assert "within 120 s" in run.error_message and "502 Bad Gateway" in run.error_message
    assert plane.requests == []  # no session to cancel

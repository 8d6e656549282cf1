"""The runs the metrics tests read: two acme schedules and one of globex, around NOW.

NOW is 10:30 UTC on T0's day, so a 24-hour window covers 25 UTC hours (both ends partial).
"""

from __future__ import annotations

from datetime import timedelta

from runs.models import RunStatus, ScheduleRun
from tests.constants import T0
from tests.factories import make_run, make_schedule

NOW = T0 + timedelta(hours=10, minutes=30)


def finished_run(schedule, *, at, status, seconds=None, trigger="scheduled"):
    """A run triggered at `at` that ran `seconds` and ended in `status` (the finish written
    directly: these tests read metrics, the lifecycle has its own tests)."""
    run = make_run(schedule, at=at, trigger_type=trigger)
    fields = {"status": status, "finished_at": at}
    if seconds is not None:
        fields.update(started_at=at, finished_at=at + timedelta(seconds=seconds))
    ScheduleRun.objects.filter(pk=run.pk).update(**fields)
    return run


def populate(acme, agent, globex):
    """Returns (nightly, hourly, globex schedule). In acme's last 24 hours: 4 scheduled runs and
    1 manual; 2 succeeded (10 s, 20 s), 1 failed (30 s), 1 timed out (100 s), 1 skipped."""
    nightly = make_schedule(acme, agent, name="Nightly report")
    hourly = make_schedule(acme, agent, name="Hourly check")
    other = make_schedule(globex, name="Globex nightly")
    finished_run(nightly, at=NOW - timedelta(hours=1), status=RunStatus.SUCCESS, seconds=10)  # 09:30
    finished_run(nightly, at=NOW - timedelta(hours=2), status=RunStatus.FAILED, seconds=30)  # 08:30
    finished_run(nightly, at=NOW - timedelta(hours=3), status=RunStatus.SUCCESS, seconds=20)  # 07:30
    finished_run(nightly, at=NOW - timedelta(hours=25), status=RunStatus.SUCCESS, seconds=5)  # before the 24h
    finished_run(hourly, at=NOW - timedelta(minutes=30), status=RunStatus.TIMEOUT, seconds=100, trigger="manual")
    finished_run(hourly, at=NOW - timedelta(minutes=20), status=RunStatus.SKIPPED)
    finished_run(other, at=NOW - timedelta(hours=1), status=RunStatus.FAILED, seconds=7)
    return nightly, hourly, other

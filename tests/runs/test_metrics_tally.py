"""/metrics' running totals (runs/metrics/tally.py): a scrape adds the runs finished since the
last stored hour instead of counting the history, and the counters never go back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.metrics.tally import run_totals
from runs.models import RunStatus, RunTally, ScheduleRun
from tests.runs.metrics_data import NOW, finished_run, populate

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(acme, agent, globex):
    return populate(acme, agent, globex)


def runs_of(totals, org, status, trigger="scheduled"):
    tally = totals.get((org.pk, status, trigger))
    return tally.runs if tally else 0


def test_totals_equal_a_full_count_as_the_clock_moves(acme, data):
    nightly, _, _ = data
    assert runs_of(run_totals(now=NOW), acme, RunStatus.SUCCESS) == 3
    later = NOW + timedelta(hours=3)
    finished_run(nightly, at=NOW + timedelta(hours=1), status=RunStatus.SUCCESS, seconds=10)
    finished_run(nightly, at=later - timedelta(minutes=5), status=RunStatus.SUCCESS, seconds=10)  # not yet settled
    totals = run_totals(now=later)
    assert runs_of(totals, acme, RunStatus.SUCCESS) == 5
    full = ScheduleRun.objects.filter(org=acme, status=RunStatus.SUCCESS, trigger_type="scheduled").count()
    assert runs_of(totals, acme, RunStatus.SUCCESS) == full
    assert totals[(acme.pk, RunStatus.SUCCESS, "scheduled")].timed == 5
    assert totals[(acme.pk, RunStatus.SUCCESS, "scheduled")].seconds == 10 + 20 + 5 + 10 + 10


def test_a_settled_hour_is_stored_once_and_not_counted_again(acme, data):
    run_totals(now=NOW)
    stored = RunTally.objects.count()
    assert stored > 0
    with CaptureQueriesContext(connection) as again:
        run_totals(now=NOW + timedelta(minutes=5))
    assert RunTally.objects.count() == stored
    assert not any("INSERT" in q["sql"] for q in again.captured_queries)


def test_deleting_old_runs_does_not_lower_the_counters(acme, data):
    run_totals(now=NOW)
    ScheduleRun.objects.filter(org=acme, finished_at__lt=NOW - timedelta(hours=2)).delete()
    assert runs_of(run_totals(now=NOW + timedelta(hours=2)), acme, RunStatus.SUCCESS) == 3


def test_old_boundaries_are_dropped(acme, data):
    for hours in range(6):
        run_totals(now=NOW + timedelta(hours=hours))
    assert RunTally.objects.values("through").distinct().count() == 2

"""The runs summary (runs/metrics/summary.py): what the API and the chart show."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.errors import InvalidInput, NotVisible
from runs.metrics.scan import percentile_cont
from runs.metrics.summary import parse_window, runs_summary, summary_runs_for
from tests.runs.metrics_data import NOW, populate


@pytest.fixture
def data(acme, agent, globex):
    return populate(acme, agent, globex)


def summary_for(user, window="24h", **filters):
    return runs_summary(runs=summary_runs_for(user, **filters), window=window, now=NOW)


def test_counts_rates_and_percentiles_over_the_last_24_hours(alice, data):
    s = summary_for(alice)
    assert s.total == 5
    assert s.triggers == {"scheduled": 4, "manual": 1, "retry": 0, "backfill": 0}
    assert s.statuses["success"] == 2 and s.statuses["failed"] == 1 and s.statuses["timeout"] == 1
    assert s.statuses["skipped"] == 1 and s.statuses["queued"] == 0
    assert s.success_rate == 0.5 and s.failure_rate == 0.5
    # percentile_cont over 10, 20, 30, 100 s: the same figure on PostgreSQL and SQLite.
    assert s.duration_p50_seconds == pytest.approx(25.0)
    assert s.duration_p95_seconds == pytest.approx(89.5)


def test_hourly_buckets_cover_the_window_in_utc_hours(alice, data):
    hours = summary_for(alice).hours
    assert len(hours) == 25  # 10:00 yesterday .. 10:00 today, both partial
    assert hours[0].start == NOW.replace(minute=0) - timedelta(hours=24)
    by_start = {h.start.hour: h for h in hours}
    assert (by_start[9].succeeded, by_start[9].failed, by_start[9].p95_seconds) == (1, 0, 10.0)
    assert (by_start[8].succeeded, by_start[8].failed) == (0, 1)
    assert (by_start[10].failed, by_start[10].p95_seconds) == (1, 100.0)  # the timeout; the skip is no outcome
    assert sum(h.succeeded + h.failed for h in hours) == 4


def test_failing_most_lists_the_schedule_with_the_latest_failure_first_on_a_tie(alice, data):
    nightly, hourly, _ = data
    failing = summary_for(alice).failing_schedules
    assert [(f.name, f.failures) for f in failing] == [("Hourly check", 1), ("Nightly report", 1)]


def test_windows_one_hour_and_seven_days(alice, data):
    short = summary_for(alice, window="1h")
    assert short.total == 3 and len(short.hours) == 2
    assert summary_for(alice, window="7d").total == 6


def test_another_orgs_runs_are_not_counted_and_its_schedule_is_not_visible(alice, mallory, data):
    _, _, other = data
    assert summary_for(mallory).total == 1
    assert summary_for(alice).statuses["failed"] == 1  # globex's failure is not in acme's figures
    with pytest.raises(NotVisible):
        summary_for(alice, schedule_id=other.pk)


def test_one_schedule_or_one_agent(alice, data):
    nightly, hourly, _ = data
    assert summary_for(alice, schedule_id=hourly.pk).total == 2
    assert summary_for(alice, agent="echo").total == 5
    assert summary_for(alice, agent="other").total == 0


def test_no_runs_means_no_rates_rather_than_zero(alice, acme):
    s = summary_for(alice)
    assert s.total == 0 and s.success_rate is None and s.duration_p95_seconds is None
    assert len(s.hours) == 25 and all(h.p95_seconds is None for h in s.hours)


def test_an_unknown_window_names_the_allowed_ones():
    with pytest.raises(InvalidInput, match="1h, 24h, 7d"):
        parse_window("2d")


def test_percentile_cont_interpolates_like_postgresql():
    assert percentile_cont([5.0], 0.95) == 5.0
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5

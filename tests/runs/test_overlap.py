"""One overlap rule (`runs.services.overlap_verdict`) for firing and for run-now, and the
partial index that serves their active-run counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count

from audit.services import Actor
from runs.firing import fire_due
from runs.models import ACTIVE_STATUSES, RunStatus, ScheduleRun
from runs.services.manual import run_now
from tests.constants import T0, NINE
from tests.factories import make_run, make_schedule

pytestmark = pytest.mark.django_db


def with_active_runs(schedule, count: int):
    for i in range(count):
        make_run(schedule, at=T0 + timedelta(minutes=i), status=RunStatus.RUNNING if i % 2 == 0 else RunStatus.QUEUED)
    return schedule


@pytest.mark.parametrize(
    ("policy", "max_concurrency", "active", "expected"),
    [
        ("skip", 1, 0, RunStatus.QUEUED),
        ("skip", 1, 1, RunStatus.SKIPPED),
        ("queue", 1, 1, RunStatus.QUEUED),  # the one allowed to wait
        ("queue", 1, 2, RunStatus.SKIPPED),
        ("skip", 3, 2, RunStatus.QUEUED),
        ("skip", 3, 3, RunStatus.SKIPPED),
        ("queue", 3, 3, RunStatus.QUEUED),
        ("queue", 3, 4, RunStatus.SKIPPED),
    ],
)
def test_firing_and_run_now_decide_an_overlap_alike(acme, agent, policy, max_concurrency, active, expected):
    options = {"overlap_policy": policy, "max_concurrency": max_concurrency}
    fired_schedule = with_active_runs(make_schedule(acme, agent, name="fired", cron_expression="0 9 * * *", **options), active)
    manual_schedule = with_active_runs(make_schedule(acme, agent, name="manual", cron_expression="0 12 * * *", **options), active)

    assert fire_due(now=NINE, batch_size=10).claimed == 1
    fired = ScheduleRun.objects.get(schedule=fired_schedule, scheduled_for=NINE)
    manual, _ = run_now(actor=Actor.system(), schedule=manual_schedule, now=NINE)

    assert fired.status == manual.status == expected
    assert fired.error_code == manual.error_code == ("overlap" if expected == RunStatus.SKIPPED else "")
    assert fired.error_message == manual.error_message
    if expected == RunStatus.SKIPPED:
        assert f"{active} run(s) of this schedule already queued or running" in fired.error_message


@pytest.mark.postgres
def test_the_active_run_counts_can_use_the_partial_index(acme, agent):
    schedule = with_active_runs(make_schedule(acme, agent), 2)
    queries = {
        "firing's grouped count": ScheduleRun.objects.filter(schedule_id__in=[schedule.pk], status__in=ACTIVE_STATUSES)
        .order_by()
        .values_list("schedule_id")
        .annotate(n=Count("id")),
        "run-now's count": ScheduleRun.objects.filter(schedule_id=schedule.pk, status__in=ACTIVE_STATUSES).order_by(),
        "the loop's any-active check": ScheduleRun.objects.filter(status__in=ACTIVE_STATUSES).order_by().values("id")[:1],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # A test table is tiny, so the planner would rightly scan it: forbid that, and the
        # plan shows whether the index's predicate matches the query's (else: Seq Scan).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for label, qs in queries.items():
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "run_active_by_schedule" in plan, f"{label}:\n{plan}"

"""Admission hands the dispatcher the runs it leased, built from the leasing statement itself
(runs.bulk.lease_returning): the same runs, schedules and orgs an ORM load gives."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from audit.services import Actor
from runs.admission import admit, candidates
from runs.models import RunStatus, ScheduleRun
from schedules.services import schedule_disable
from tests.constants import NINE
from tests.factories import make_agent, make_org, make_run, make_schedule

pytestmark = pytest.mark.django_db

LEASE = 60


def test_admitted_runs_are_the_runs_schedules_and_orgs_as_stored(acme, agent):
    other = make_org("globex")
    checks = [{"kind": "contains", "text": "total"}]
    busy = make_schedule(
        acme, agent, name="Two at once", max_concurrency=2, timezone="Asia/Shanghai", timeout_seconds=900,
        max_tokens=5000, max_cost_usd=Decimal("1.25"), success_checks=checks,
    )
    runs = [
        make_run(busy, at=NINE),
        make_run(busy, at=NINE + timedelta(minutes=1)),
        make_run(make_schedule(other, make_agent(other, "echo"), name="Elsewhere"), at=NINE),
    ]
    disabled = make_schedule(acme, agent, name="Switched off")
    make_run(disabled, at=NINE)
    rows = candidates(NINE + timedelta(minutes=2), room=10)
    # Disabled between the candidates' read and the admission: not leased, canceled there.
    schedule_disable(actor=Actor.system(), schedule=disabled, now=NINE)

    leased = admit(rows, now=NINE + timedelta(minutes=2), limit=10, replica_id="r1", lease_seconds=LEASE)

    assert [run.pk for run in leased] == [run.pk for run in sorted(runs, key=lambda r: (r.created_at, r.pk))]
    stored = {run.pk: run for run in ScheduleRun.objects.select_related("schedule", "org").filter(pk__in=[r.pk for r in runs])}
    for run in leased:
        same = stored[run.pk]
        for field in ScheduleRun._meta.concrete_fields:
            assert getattr(run, field.attname) == getattr(same, field.attname), field.name
        assert (run.lease_owner, run.lease_expires_at) == ("r1", NINE + timedelta(minutes=2, seconds=LEASE))
        assert run.status == RunStatus.QUEUED and not run._state.adding
        for name in ("timezone", "timeout_seconds", "max_tokens", "max_cost_usd", "success_checks", "source_session_id"):
            assert getattr(run.schedule, name) == getattr(same.schedule, name), name
        assert (run.org.pk, run.org.slug) == (same.org.pk, same.org.slug)
    first = next(run for run in leased if run.schedule_id == busy.pk)
    assert (first.schedule.success_checks, first.schedule.timezone) == (checks, "Asia/Shanghai")
    assert {run.org.slug for run in leased} == {"acme", "globex"}
    assert ScheduleRun.objects.get(schedule=disabled).status == RunStatus.CANCELED


def test_the_oldest_ready_runs_that_may_start_are_chosen_however_long_the_queue_behind_a_busy_schedule(acme, agent):
    """Candidates are cut on the oldest ready runs first; when those are all waiting behind a
    schedule at its limit, the cut is made on every ready run, and a newer run of another
    schedule is still found."""
    from runs.admission import PREFIX_MIN, ready_candidates
    from runs.bulk import insert_runs
    from tests.factories import new_run

    type(acme).objects.filter(pk=acme.pk).update(max_concurrent_runs=1000)
    busy = make_schedule(acme, agent, name="Backlog", max_concurrency=2)
    busy.agent = agent
    backlog = [new_run(busy, at=NINE + timedelta(minutes=i)) for i in range(PREFIX_MIN + 50)]
    assert len(insert_runs(backlog)) == len(backlog)
    late = make_run(make_schedule(acme, agent, name="Late"), at=NINE + timedelta(days=1))
    now = NINE + timedelta(days=1)

    chosen = [row["id"] for row in candidates(now, room=5)]

    oldest_two = sorted(backlog, key=lambda r: (r.created_at, r.pk))[:2]
    assert chosen == [oldest_two[0].pk, oldest_two[1].pk, late.pk]
    # Two wanted: the oldest ready runs hold them, the rest is not looked at.
    assert [row["id"] for row in ready_candidates(now, limit=2)] == [oldest_two[0].pk, oldest_two[1].pk]

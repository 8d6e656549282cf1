"""A run starts only while its schedule and its agent are enabled.

The dispatcher checks both when it admits a run, and ends (cancels, with an error code that
says why) a run that may not start instead of sending it to the plane or leaving it queued.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.services import Actor
from runs.models import RunStatus, ScheduleRun
from runs.reconcile import reconcile
from runs.services.lifecycle import run_finish
from runs.services.manual import run_now
from schedules.services import schedule_disable
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def failed_with_a_queued_retry(schedule):
    """The first attempt failed (the agent reported it); the automatic retry waits its back-off."""
    first = make_run(schedule, at=NINE)
    run_finish(run_id=first.pk, status=RunStatus.FAILED, error_code="agent_failed", now=NINE)
    return ScheduleRun.objects.get(retry_of=first)


def test_a_queued_retry_is_canceled_not_sent_once_its_agent_is_disabled(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_retries=3)
    retry = failed_with_a_queued_retry(schedule)
    # Support staff switch the agent off in the admin while the retry waits.
    agent.enabled = False
    agent.save()

    inline_dispatcher().dispatch_ready(now=retry.not_before)

    retry = reload(retry)
    assert (retry.status, retry.error_code) == (RunStatus.CANCELED, "agent_disabled")
    assert retry.error_message == "canceled before it started: agent 'echo' is disabled"
    assert retry.finished_at == retry.not_before
    assert plane.create_calls == 0
    # Ended for good: no further attempt, nothing left for the next pass.
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 2
    assert inline_dispatcher().dispatch_ready(now=retry.not_before + timedelta(minutes=5)) == 0


def test_a_run_whose_lease_lapsed_after_its_schedule_was_disabled_is_canceled(acme, agent, plane):
    schedule = make_schedule(acme, agent)
    run = make_run(schedule, at=NINE)
    # A dispatcher admitted it and died before the plane answered: the disable leaves a run
    # under a live lease alone, since its plane call may be in flight.
    ScheduleRun.objects.filter(pk=run.pk).update(lease_owner="dead-replica", lease_expires_at=NINE + timedelta(minutes=1))
    schedule_disable(actor=Actor.system(), schedule=schedule, now=NINE)
    assert reload(run).status == RunStatus.QUEUED

    inline_dispatcher().dispatch_ready(now=NINE + timedelta(minutes=2))

    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.CANCELED, "schedule_disabled")
    assert run.error_message == "canceled before it started: the schedule was disabled"
    assert plane.create_calls == 0


def test_runs_that_may_start_are_admitted_beside_one_that_may_not(acme, agent, plane):
    other = make_schedule(acme, agent, name="Other")
    blocked = make_run(other, at=NINE)
    ScheduleRun.objects.filter(pk=blocked.pk).update(lease_owner="dead-replica", lease_expires_at=NINE)
    schedule_disable(actor=Actor.system(), schedule=other, now=NINE - timedelta(minutes=1))
    fine = make_run(make_schedule(acme, agent, name="Fine"), at=NINE + timedelta(seconds=1))

    assert inline_dispatcher().dispatch_ready(now=NINE + timedelta(minutes=1)) == 1

    assert reload(blocked).status == RunStatus.CANCELED
    assert reload(fine).status == RunStatus.RUNNING
    assert plane.create_calls == 1


def test_run_now_of_a_disabled_schedule_still_runs(acme, agent, plane, alice):
    # Run-now allows a disabled schedule by hand (only its agent must be enabled): admission
    # must not cancel what a person asked for explicitly.
    schedule = make_schedule(acme, agent)
    schedule_disable(actor=Actor.system(), schedule=schedule, now=NINE)
    run, _ = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE)

    inline_dispatcher().dispatch_ready(now=NINE)

    assert reload(run).status == RunStatus.RUNNING
    assert plane.create_calls == 1


def test_reconcile_cancels_a_waiting_retry_once_its_agent_is_disabled(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_retries=3)
    retry = failed_with_a_queued_retry(schedule)
    agent.enabled = False
    agent.save()

    # Long before the retry's back-off ends, the next reconcile pass ends it: it would never
    # start, and the pages would show it waiting meanwhile.
    reconcile(now=NINE + timedelta(seconds=1), replica_id="test")

    retry = reload(retry)
    assert (retry.status, retry.error_code) == (RunStatus.CANCELED, "agent_disabled")
    assert retry.finished_at == NINE + timedelta(seconds=1)
    assert plane.create_calls == 0


def test_reconcile_cancels_a_disabled_schedules_waiting_retry(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_retries=3)
    retry = failed_with_a_queued_retry(schedule)
    schedule_disable(actor=Actor.system(), schedule=schedule, now=NINE)
    assert reload(retry).status == RunStatus.QUEUED  # the schedules app leaves runs to runs

    reconcile(now=NINE + timedelta(seconds=1), replica_id="test")

    retry = reload(retry)
    assert (retry.status, retry.error_code) == (RunStatus.CANCELED, "schedule_disabled")

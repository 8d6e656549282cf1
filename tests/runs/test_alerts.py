"""Failure alerts and auto-pause, driven through `run_finish` with a moving `now`."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from audit.models import AuditAction, AuditEvent
from audit.services import Actor
from runs.models import Alert, AlertCause, AlertEvent, AlertState, RunStatus
from runs.services.lifecycle import run_finish
from schedules.models import Schedule
from schedules.services import schedule_enable
from tests.constants import NINE
from tests.factories import make_run, make_schedule

pytestmark = pytest.mark.django_db


def fail_at(schedule, hour: int, *, status=RunStatus.FAILED):
    """One occurrence of `schedule`, `hour` hours after NINE, finished failed (no retries)."""
    at = NINE + timedelta(hours=hour)
    run = make_run(schedule, at=at)
    run_finish(run_id=run.pk, status=status, error_code="agent_failed", now=at + timedelta(minutes=1), retry=False)
    return at


def succeed_at(schedule, hour: int):
    at = NINE + timedelta(hours=hour)
    run = make_run(schedule, at=at)
    run_finish(run_id=run.pk, status=RunStatus.SUCCESS, now=at + timedelta(minutes=1))
    return at


def alerts(schedule):
    return list(Alert.objects.filter(schedule=schedule, cause=AlertCause.CONSECUTIVE_FAILURES).order_by("opened_at"))


def kinds(alert):
    return [e.kind for e in AlertEvent.objects.filter(alert=alert)]


def test_opens_once_at_the_threshold_and_stays_open_without_a_duplicate(acme, agent):
    schedule = make_schedule(acme, agent, alert_after_failures=3)
    fail_at(schedule, 0)
    fail_at(schedule, 1)
    assert alerts(schedule) == []
    fail_at(schedule, 2)
    (alert,) = alerts(schedule)
    assert alert.state == AlertState.OPEN and alert.opened_at == NINE + timedelta(hours=2, minutes=1)
    assert "3 runs of schedule “Nightly report” failed in a row (the last: agent_failed)" in alert.detail
    fail_at(schedule, 3, status=RunStatus.TIMEOUT)
    fail_at(schedule, 4)
    assert alerts(schedule) == [alert] and kinds(alert) == ["opened"]


def test_a_success_resolves_it_and_later_failures_open_a_new_one(acme, agent):
    schedule = make_schedule(acme, agent, alert_after_failures=2)
    fail_at(schedule, 0)
    fail_at(schedule, 1)
    succeed_at(schedule, 2)
    (first,) = alerts(schedule)
    assert first.state == AlertState.RESOLVED and first.resolved_at == NINE + timedelta(hours=2, minutes=1)
    assert kinds(first) == ["opened", "resolved"]
    succeed_at(schedule, 3)  # nothing open: nothing to resolve twice
    assert kinds(first) == ["opened", "resolved"]
    fail_at(schedule, 4)
    assert len(alerts(schedule)) == 1
    fail_at(schedule, 5)
    first_again, second = alerts(schedule)
    assert first_again == first and second.state == AlertState.OPEN and kinds(second) == ["opened"]


def test_the_database_refuses_a_second_open_alert_for_one_cause(acme, agent):
    from django.db import IntegrityError, transaction

    schedule = make_schedule(acme, agent)
    Alert.objects.create(org=acme, cause=AlertCause.CONSECUTIVE_FAILURES, schedule=schedule, opened_at=NINE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(org=acme, cause=AlertCause.CONSECUTIVE_FAILURES, schedule=schedule, opened_at=NINE)
    Alert.objects.create(org=acme, cause=AlertCause.SCHEDULER_STALLED, opened_at=NINE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(org=acme, cause=AlertCause.SCHEDULER_STALLED, opened_at=NINE)


def test_auto_pause_disables_the_schedule_with_its_reason_audited_as_the_system(acme, agent):
    schedule = make_schedule(acme, agent, alert_after_failures=2, pause_after_failures=3, max_retries=3)
    fail_at(schedule, 0)
    fail_at(schedule, 1)
    schedule.refresh_from_db()
    assert schedule.enabled
    at = NINE + timedelta(hours=2)
    run = make_run(schedule, at=at)
    run_finish(run_id=run.pk, status=RunStatus.FAILED, error_code="agent_failed", now=at)
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    assert schedule.paused_reason.startswith("Paused itself after 3 failures in a row")
    assert not run.retries.exists(), "a paused schedule queues no automatic retry"
    event = AuditEvent.objects.get(schedule_id=schedule.pk, action=AuditAction.DISABLE)
    assert event.actor is None and event.actor_label == "system"
    assert event.after["paused_reason"] == schedule.paused_reason
    (alert,) = alerts(schedule)
    assert kinds(alert) == ["opened", "updated"] and "Paused itself" in alert.detail


def test_resume_re_enables_clears_the_reason_and_gives_fresh_tries(acme, agent, alice):
    schedule = make_schedule(acme, agent, pause_after_failures=2)
    fail_at(schedule, 0)
    fail_at(schedule, 1)
    schedule.refresh_from_db()
    assert not schedule.enabled
    schedule_enable(actor=Actor(user=alice), schedule=schedule, now=NINE + timedelta(hours=3))
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.paused_reason == "" and schedule.consecutive_failures == 0
    assert AuditEvent.objects.filter(schedule_id=schedule.pk, action=AuditAction.ENABLE, actor=alice).exists()
    fail_at(schedule, 4)
    schedule.refresh_from_db()
    assert schedule.enabled, "one failure after a resume does not pause it again"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_open_one_alert_and_count_every_failure(acme, agent):
    schedule = make_schedule(acme, agent, alert_after_failures=2, max_concurrency=8)
    runs = [make_run(schedule, at=NINE + timedelta(minutes=i)) for i in range(8)]
    start = threading.Barrier(len(runs))
    errors = []

    def finish(run):
        try:
            start.wait()
            run_finish(run_id=run.pk, status=RunStatus.FAILED, now=NINE + timedelta(hours=1), retry=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Schedule.objects.get(pk=schedule.pk).consecutive_failures == 8
    (alert,) = alerts(schedule)
    assert kinds(alert) == ["opened"]


def test_open_alert_counts_are_by_org_slug_and_cause_for_a_metrics_collector(acme, agent, globex):
    from runs.selectors import open_alert_counts

    schedule = make_schedule(acme, agent, alert_after_failures=1)
    other = make_schedule(acme, agent, name="Other", alert_after_failures=1)
    fail_at(schedule, 0)
    fail_at(other, 0)
    Alert.objects.create(org=globex, cause=AlertCause.SCHEDULER_STALLED, opened_at=NINE)
    succeed_at(other, 1)
    assert open_alert_counts() == {("acme", "consecutive_failures"): 1, ("globex", "scheduler_stalled"): 1}

"""The database itself refuses rows that must never exist, even written around the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from runs.bulk import insert_runs
from runs.models import ScheduleRun
from schedules.models import Agent, Organization, Schedule
from tests.constants import T0, NINE
from tests.factories import make_agent, make_membership, make_run, make_schedule, new_run

pytestmark = pytest.mark.django_db


def assert_refused(queryset, constraint: str | None = None, **values):
    """An UPDATE written around the services fails with IntegrityError (naming `constraint`)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        queryset.update(**values)
    if constraint:
        # PostgreSQL and SQLite both name the check that failed.
        assert constraint in str(excinfo.value), str(excinfo.value)


@pytest.fixture
def cron_schedule(acme, agent):
    return make_schedule(acme, agent, cron_expression="0 9 * * *")


@pytest.fixture
def interval_schedule(acme, agent):
    return make_schedule(acme, agent, name="every hour", schedule_type="interval", interval_seconds=3600)


# Each named CheckConstraint on Schedule, with a row that breaks it.
SCHEDULE_VIOLATIONS = {
    "schedule_cron_needs_expression": ("cron", {"cron_expression": ""}),
    "schedule_interval_needs_positive_seconds": ("cron", {"schedule_type": "interval", "interval_seconds": None}),
    "schedule_interval_positive": ("cron", {"interval_seconds": 0}),
    "schedule_once_needs_run_at": ("cron", {"schedule_type": "once", "run_at": None}),
    "schedule_max_retries_range": ("cron", {"max_retries": 11}),
    "schedule_max_concurrency_positive": ("cron", {"max_concurrency": 0}),
    "schedule_timeout_positive": ("cron", {"timeout_seconds": 0}),
    "schedule_alert_after_failures_positive": ("cron", {"alert_after_failures": 0}),
    "schedule_pause_after_failures_positive": ("cron", {"pause_after_failures": 0}),
    "schedule_window_ordered": ("cron", {"start_at": T0 + timedelta(days=2), "end_at": T0 + timedelta(days=1)}),
    "schedule_type_valid": ("cron", {"schedule_type": "weekly"}),
    "schedule_overlap_policy_valid": ("cron", {"overlap_policy": "drop"}),
}


def test_every_schedule_check_constraint_has_a_violation_below():
    declared = {c.name for c in Schedule._meta.constraints}
    assert declared == set(SCHEDULE_VIOLATIONS), "add a violating row for each new constraint"


@pytest.mark.parametrize("constraint", sorted(SCHEDULE_VIOLATIONS))
def test_schedule_check_constraint_refuses_a_bad_row(cron_schedule, constraint):
    _, values = SCHEDULE_VIOLATIONS[constraint]
    assert_refused(Schedule.objects.filter(pk=cron_schedule.pk), constraint, **values)
    cron_schedule.refresh_from_db()
    assert cron_schedule.schedule_type == "cron" and cron_schedule.cron_expression == "0 9 * * *"


def test_negative_interval_is_refused(interval_schedule):
    # Refused by PositiveIntegerField's own check and by schedule_interval_positive alike.
    assert_refused(Schedule.objects.filter(pk=interval_schedule.pk), interval_seconds=-60)


def test_negative_retry_count_is_refused(cron_schedule):
    assert_refused(Schedule.objects.filter(pk=cron_schedule.pk), max_retries=-1)


def test_retry_count_bounds_are_allowed(cron_schedule):
    for value in (0, 10):
        Schedule.objects.filter(pk=cron_schedule.pk).update(max_retries=value)
        cron_schedule.refresh_from_db()
        assert cron_schedule.max_retries == value


def test_org_needs_a_positive_run_limit(acme):
    assert_refused(Organization.objects.filter(pk=acme.pk), "org_max_concurrent_runs_positive", max_concurrent_runs=0)


def test_agent_slug_is_unique_per_org(acme, globex, agent):
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(org=acme, slug="echo", name="Echo again")  # a plain insert, not the get-or-create factory
    # The same slug in another org is fine.
    assert make_agent(globex, "echo").org == globex


def test_one_membership_per_user_and_org(acme, alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_membership(alice, acme, "viewer")


# --- runs ---------------------------------------------------------------------------------


@pytest.fixture
def run(cron_schedule):
    return make_run(cron_schedule, at=NINE, now=T0)


def test_run_attempt_must_be_positive(run):
    assert_refused(ScheduleRun.objects.filter(pk=run.pk), "run_attempt_positive", attempt=0)


def test_run_status_must_be_known(run):
    assert_refused(ScheduleRun.objects.filter(pk=run.pk), "run_status_valid", status="exploded")


def test_job_run_id_is_unique_for_a_plain_insert(run, cron_schedule):
    # The constraint idempotency stands on: a plain INSERT (not insert_runs) is refused.
    twin = new_run(cron_schedule, at=run.scheduled_for, now=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)
    assert insert_runs([twin]) == set()
    assert ScheduleRun.objects.count() == 1


def test_user_delete_keeps_schedules_and_audit(acme, agent, alice):
    from audit.models import AuditEvent
    from audit.services import Actor

    schedule = make_schedule(acme, agent, actor=Actor(user=alice))
    get_user_model().objects.filter(pk=alice.pk).delete()
    schedule.refresh_from_db()
    assert schedule.created_by is None
    assert AuditEvent.objects.get(action="create").actor_label == "alice"

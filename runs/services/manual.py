"""What a person does to runs: run a schedule now, retry a run by hand. Both are audited."""

from __future__ import annotations

from datetime import datetime

import structlog
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from config.errors import InvalidState
from runs.budgets import refuse_when_spent
from runs.bulk import insert_runs
from runs.models import ACTIVE_STATUSES, RETRYABLE_STATUSES, ScheduleRun, TriggerType
from runs.services.create import run_create
from runs.services.ids import manual_job_run_id
from runs.services.lifecycle import build_retry
from runs.services.overlap import active_run_count, overlap_verdict
from schedules.models import Agent, Schedule

log = structlog.get_logger("runs.services")


@transaction.atomic
def run_now(*, actor: Actor, schedule, now: datetime, idempotency_key: str | None = None) -> tuple[ScheduleRun, bool]:
    """A manual run of `schedule` now: (run, created). A repeated Idempotency-Key returns the first run.

    The schedule row is locked so that two clicks (or a click and the scheduler) decide the
    overlap one after the other. A disabled schedule may still be run by hand; a disabled
    agent may not.
    """
    schedule = Schedule.objects.select_for_update(of=("self",)).select_related("agent", "org").get(pk=schedule.pk)
    job_run_id = manual_job_run_id(schedule.pk, idempotency_key)
    existing = ScheduleRun.objects.filter(job_run_id=job_run_id).first()
    if existing is not None:
        return existing, False
    if not schedule.agent.enabled:
        raise InvalidState(
            _("agent '%(agent)s' is disabled, so this schedule cannot run") % {"agent": schedule.agent.slug}
        )
    refuse_when_spent(schedule, now=now)
    status, error_code, error_message = overlap_verdict(schedule, active=active_run_count(schedule.pk))
    run, created = run_create(
        schedule=schedule,
        scheduled_for=now,
        now=now,
        trigger_type=TriggerType.MANUAL,
        job_run_id=job_run_id,
        status=status,
        error_code=error_code,
        error_message=error_message,
        triggered_by=actor.user,
    )
    if created:
        audit.record(
            actor=actor,
            org=schedule.org,
            action=AuditAction.RUN_NOW,
            target=run,
            now=now,
            after={"job_run_id": run.job_run_id, "status": run.status, "error_code": run.error_code},
            schedule_id=schedule.pk,
        )
        log.info("run.manual", schedule_id=str(schedule.pk), job_run_id=run.job_run_id, status=run.status, actor=actor.label)
    return run, created


@transaction.atomic
def run_retry(*, actor: Actor, run: ScheduleRun, now: datetime) -> ScheduleRun:
    """A manual retry of a failed, timed-out or canceled run: attempt (latest + 1), queued now.

    Refused (InvalidState) for a run in any other state, while a later attempt of the
    same occurrence is still queued or running (that attempt is the retry already), and while
    the schedule or the run's agent is disabled (the dispatcher would only cancel it).
    """
    Schedule.objects.select_for_update(of=("self",)).filter(pk=run.schedule_id).first()
    run = ScheduleRun.objects.select_related("schedule__agent", "org").get(pk=run.pk)
    if run.status not in RETRYABLE_STATUSES:
        raise InvalidState(
            _("only failed, timed-out or canceled runs can be retried; this run is %(status)s")
            % {"status": run.get_status_display().lower()}
        )
    if not run.schedule.enabled:
        raise InvalidState(_("the schedule is disabled; enable it before retrying its runs"))
    agent = Agent.objects.filter(org_id=run.org_id, slug=run.agent_slug).first()
    if agent is None:
        raise InvalidState(
            _("agent '%(agent)s' no longer exists, so this run cannot be retried") % {"agent": run.agent_slug}
        )
    if not agent.enabled:
        raise InvalidState(
            _("agent '%(agent)s' is disabled, so this run cannot be retried") % {"agent": run.agent_slug}
        )
    refuse_when_spent(run.schedule, now=now)
    # The later attempts of this occurrence, by its stored key (index `run_retries_by_occurrence`).
    # Attempt 1 is never among them and never matters: a retry exists only once it is final.
    attempts = ScheduleRun.objects.filter(
        schedule_id=run.schedule_id, occurrence_key=run.occurrence_key, attempt__gt=1
    )
    pending = attempts.filter(status__in=ACTIVE_STATUSES).order_by("attempt").first()
    if pending is not None:
        raise InvalidState(
            _("attempt %(attempt)s of this run is already %(status)s")
            % {"attempt": pending.attempt, "status": pending.get_status_display().lower()}
        )
    attempt = (attempts.aggregate(n=Max("attempt"))["n"] or run.attempt) + 1
    retry = build_retry(run, attempt=attempt, now=now, not_before=None, triggered_by=actor.user)
    if not insert_runs([retry]):
        raise InvalidState(_("attempt %(attempt)s of this run exists already") % {"attempt": attempt})
    audit.record(
        actor=actor,
        org=run.org,
        action=AuditAction.RETRY,
        target=retry,
        now=now,
        before={"run": str(run.pk), "job_run_id": run.job_run_id, "attempt": run.attempt, "status": run.status},
        after={"run": str(retry.pk), "job_run_id": retry.job_run_id, "attempt": retry.attempt, "status": retry.status},
        schedule_id=run.schedule_id,
    )
    log.info("run.retry_manual", schedule_id=str(run.schedule_id), job_run_id=retry.job_run_id, attempt=attempt, actor=actor.label)
    return retry

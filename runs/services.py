"""Run rows: idempotent creation, the run lifecycle (running, finished, retried), manual runs,
and the queries the scheduler, API and pages share."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Coalesce, Greatest

from audit import services as audit
from config.errors import InvalidState
from audit.models import AuditAction
from audit.services import Actor
from runs.bulk import insert_runs, mark_running, run_values
from runs.models import ACTIVE_STATUSES, RETRYABLE_STATUSES, RunStatus, ScheduleRun, TriggerType
from runs.plane.base import PERMANENT_ERRORS, PlaneResult, PlaneStatus, redact_credentials
from schedules.models import Agent, OverlapPolicy, Schedule

log = structlog.get_logger("runs.services")


def scheduled_job_run_id(schedule_id: uuid.UUID, scheduled_for: datetime, attempt: int) -> str:
    """Deterministic id of one attempt at one occurrence.

    Two replicas that fire the same occurrence derive the same id and collide on the unique
    constraint, so only one row (and one execution-plane session) can exist.
    """
    return f"{schedule_id.hex}-{scheduled_for.strftime('%Y%m%dT%H%M%S')}Z-{attempt}"


def manual_job_run_id(schedule_id: uuid.UUID, idempotency_key: str | None) -> str:
    """A run-now id: stable for a given Idempotency-Key, fresh otherwise."""
    if idempotency_key:
        digest = hashlib.sha256(f"{schedule_id.hex}:{idempotency_key}".encode()).hexdigest()[:24]
        return f"{schedule_id.hex}-manual-{digest}"
    return f"{schedule_id.hex}-manual-{uuid.uuid4().hex[:24]}"


def build_run(*, schedule, scheduled_for: datetime, attempt: int = 1, job_run_id: str | None = None, **fields) -> ScheduleRun:
    """An unsaved run (the ORM path of `bulk.run_values`); scheduled ids are derived when not given."""
    return ScheduleRun(
        **run_values(
            schedule=schedule,
            job_run_id=job_run_id or scheduled_job_run_id(schedule.pk, scheduled_for, attempt),
            scheduled_for=scheduled_for,
            attempt=attempt,
            **fields,
        )
    )


def run_create(**kwargs) -> tuple[ScheduleRun, bool]:
    """Create one run idempotently by job_run_id: returns (run, created).

    When the id exists (another replica, or a repeated Idempotency-Key) the existing row is
    returned and nothing is written.
    """
    run = build_run(**kwargs)
    created = bool(insert_runs([run]))
    if created:
        return run, True
    return ScheduleRun.objects.get(job_run_id=run.job_run_id), False


def runs_for_schedule(schedule):
    """A schedule's runs, newest first (served by the (schedule_id, created_at desc) index)."""
    return ScheduleRun.objects.filter(schedule=schedule).order_by("-created_at", "-id")


def active_run_count(schedule_id) -> int:
    return ScheduleRun.objects.filter(
        schedule_id=schedule_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
    ).count()


# --- The run lifecycle: running, finished, retried -------------------------------------------
#
# `run_finish` is the one place a run reaches a terminal state. Every transition is a
# conditional UPDATE on the current status (healthchecks' claim pattern), so a late callback,
# a poll and a timeout racing on one run cannot both win, and a terminal run never changes.

FINAL_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELED)
FAILURE_STATUSES = (RunStatus.FAILED, RunStatus.TIMEOUT)
ERROR_MESSAGE_MAX = 4000
_ATTEMPT_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<attempt>\d+)$")


def run_mark_running(
    *,
    run_id,
    session_id: str,
    message_id: str = "",
    now: datetime,
    poll_after_seconds: float | None = None,
    lease: tuple[str, datetime] | None = None,
) -> bool:
    """queued -> running once the plane accepted the run; False when it was no longer queued.

    The lease of a running run is the time of its next poll (reconcile polls runs whose
    lease expired), so a run whose callback never comes is looked at, by one replica at a time.
    `lease` (owner, expires_at): only while the dispatcher still holds the lease it took, so
    the answer to a call that outlived its lease never overwrites what a later dispatch wrote.
    """
    accepted = [Accepted(run_id, session_id, message_id, now, lease[1] if lease else None)]
    owner = lease[0] if lease else None
    return run_mark_running_many(accepted=accepted, poll_after_seconds=poll_after_seconds, lease_owner=owner) == 1


def _held(runs, lease: tuple[str, datetime] | None):
    """`runs` narrowed to those still under this exact lease (owner, expires_at), when given.

    The expiry is the lease's token: a release (reconcile) clears it and a new admission
    (this replica's or another's) writes a later one, so either makes the write a no-op.
    """
    if lease is None:
        return runs
    owner, expires_at = lease
    return runs.filter(lease_owner=owner, lease_expires_at=expires_at)


class Accepted(NamedTuple):
    """A plane's accepted answer, waiting to be written as `running` (run_mark_running_many)."""

    run_id: uuid.UUID
    session_id: str
    message_id: str
    started_at: datetime
    lease_expires_at: datetime | None = None  # with `lease_owner`: write only under this lease


def run_mark_running_many(
    *, accepted: list[tuple], poll_after_seconds: float | None = None, lease_owner: str | None = None
) -> int:
    """`run_mark_running` for many runs in one statement: `accepted` holds `Accepted` rows
    (or plain tuples of the same fields). Returns how many moved to running.

    With `lease_owner`, each row moves only while that owner still holds the lease whose
    expiry the row carries. The dispatcher's workers record the plane's answers through this
    in batches; one UPDATE per run was a quarter of the cost of dispatching at a thousand
    runs a second.
    """
    if not accepted:
        return 0
    poll_after = settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS if poll_after_seconds is None else poll_after_seconds
    return mark_running(
        [Accepted(*item) for item in accepted], poll_after=timedelta(seconds=poll_after), lease_owner=lease_owner
    )


def run_finish(
    *,
    run_id=None,
    job_run_id: str | None = None,
    status: str,
    session_id: str = "",
    message_id: str = "",
    outputs: list | None = None,
    error_code: str = "",
    error_message: str = "",
    now: datetime,
    retry: bool = True,
    lease: tuple[str, datetime] | None = None,
) -> tuple[ScheduleRun | None, bool]:
    """Move an active run to `status`; returns (run as stored, whether this call moved it).

    On a real transition: the schedule's `consecutive_failures` is reset (success) or
    incremented (failed, timeout); `last_run_at` covers the run's occurrence; and a failed or
    timed-out attempt with `attempt <= max_retries` gets its automatic retry, queued with
    `not_before = now + backoff`. `retry=False` is for errors that repeat on every attempt
    (a 4xx from the plane, an unconfigured agent); a disabled schedule retries nothing.
    `lease` (owner, expires_at): only a queued run still under that lease moves (a dispatcher
    whose plane call failed after its lease lapsed must not fail a run another one started).
    Credentials in URLs are masked in `error_message`: the run's org reads it.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final run status")
    if (run_id is None) == (job_run_id is None):
        raise ValueError("give exactly one of run_id and job_run_id")
    lookup = {"pk": run_id} if run_id is not None else {"job_run_id": job_run_id}
    changes = {
        "status": status,
        "finished_at": now,
        "lease_expires_at": None,
        "error_code": error_code[:64],
        "error_message": redact_credentials(error_message)[:ERROR_MESSAGE_MAX],
    }
    if session_id:
        changes["session_id"] = session_id
    if message_id:
        changes["message_id"] = message_id
    if outputs is not None:
        changes["outputs"] = outputs
    if session_id or status == RunStatus.SUCCESS:
        # A result from the plane means it ran, even when the create answer never reached us.
        changes["started_at"] = Coalesce(F("started_at"), Value(now))
    with transaction.atomic():
        active = ScheduleRun.objects.filter(**lookup, status__in=ACTIVE_STATUSES)
        if lease is not None:
            active = _held(active.filter(status=RunStatus.QUEUED), lease)
        updated = active.update(**changes)
        run = ScheduleRun.objects.select_related("schedule__agent", "org").filter(**lookup).first()
        if not updated or run is None:
            return run, False
        _count_outcome(run)
        retry_run = _queue_retry(run, now=now) if retry and status in FAILURE_STATUSES else None
    log.info(
        "run.finished",
        schedule_id=str(run.schedule_id),
        job_run_id=run.job_run_id,
        attempt=run.attempt,
        status=status,
        error_code=error_code or None,
        retry_job_run_id=retry_run.job_run_id if retry_run else None,
        retry_not_before=retry_run.not_before.isoformat() if retry_run else None,
    )
    return run, True


# The plane's final session states, as run states.
RUN_STATUS_FOR_PLANE = {
    PlaneStatus.SUCCESS: RunStatus.SUCCESS,
    PlaneStatus.FAILED: RunStatus.FAILED,
    PlaneStatus.CANCELED: RunStatus.CANCELED,
    PlaneStatus.TIMEOUT: RunStatus.TIMEOUT,
}


def run_apply_plane_result(run: ScheduleRun, result: PlaneResult, *, now: datetime) -> tuple[ScheduleRun | None, bool]:
    """Record a final PlaneResult (create answer, poll or callback) on the run: `run_finish`'s answer.

    The one translation of the plane's outcome, so the dispatcher, reconcile's polls and the
    signed callback store the same thing for the same answer. Raises ValueError for a result
    that is not final (queued/running change nothing here; the caller decides what they mean).
    An error that every attempt would meet again (PERMANENT_ERRORS) is not retried.
    """
    if not result.terminal:
        raise ValueError(f"plane status {result.status!r} is not final")
    return run_finish(
        run_id=run.pk,
        status=RUN_STATUS_FOR_PLANE[result.status],
        session_id=result.session_id,
        message_id=result.message_id,
        outputs=result.outputs,
        error_code=result.error_code,
        error_message=result.error_message,
        now=now,
        retry=result.error_code not in PERMANENT_ERRORS,
    )


def _count_outcome(run: ScheduleRun) -> None:
    """consecutive_failures and last_run_at on the schedule, in one UPDATE."""
    schedule = Schedule.objects.filter(pk=run.schedule_id)
    last_run_at = Greatest(Coalesce(F("last_run_at"), Value(run.scheduled_for)), Value(run.scheduled_for))
    if run.status in FAILURE_STATUSES:
        schedule.update(consecutive_failures=F("consecutive_failures") + 1, last_run_at=last_run_at)
    elif run.status == RunStatus.SUCCESS:
        schedule.filter(
            Q(consecutive_failures__gt=0) | Q(last_run_at__isnull=True) | Q(last_run_at__lt=run.scheduled_for)
        ).update(consecutive_failures=0, last_run_at=last_run_at)


def retry_job_run_id(run: ScheduleRun, attempt: int) -> str:
    """The job_run_id of `attempt` of the occurrence `run` belongs to.

    Scheduled occurrences keep the deterministic `<schedule>-<time>Z-<attempt>` form (the same
    as scheduled_job_run_id, so replicas agree); a manual run's id gets `-<attempt>` appended.
    """
    return f"{occurrence_key(run)}-{attempt}"


def occurrence_key(run: ScheduleRun) -> str:
    """The job_run_id stem every attempt of this run's occurrence shares."""
    match = _ATTEMPT_SUFFIX.match(run.job_run_id)
    if match and int(match["attempt"]) == run.attempt:
        return match["base"]
    return run.job_run_id


def _attempts_of(run: ScheduleRun):
    key = occurrence_key(run)
    return ScheduleRun.objects.filter(schedule_id=run.schedule_id).filter(
        Q(job_run_id=key) | Q(job_run_id__startswith=f"{key}-")
    )


def _build_retry(run: ScheduleRun, *, attempt: int, now: datetime, not_before, triggered_by=None) -> ScheduleRun:
    retry = build_run(
        schedule=run.schedule,
        scheduled_for=run.scheduled_for,
        now=now,
        trigger_type=TriggerType.RETRY,
        attempt=attempt,
        job_run_id=retry_job_run_id(run, attempt),
        retry_of=run,
        not_before=not_before,
        triggered_by=triggered_by,
    )
    # A retry repeats what was sent, even if the schedule was edited since.
    retry.agent_slug, retry.prompt, retry.output_type, retry.params = run.agent_slug, run.prompt, run.output_type, run.params
    return retry


def _queue_retry(run: ScheduleRun, *, now: datetime) -> ScheduleRun | None:
    schedule = run.schedule
    if run.attempt > schedule.max_retries or not schedule.enabled:
        return None
    retry = _build_retry(
        run, attempt=run.attempt + 1, now=now, not_before=now + timedelta(seconds=schedule.backoff_seconds(run.attempt))
    )
    # Idempotent: the id is derived, so a second writer finds the row instead of adding one.
    insert_runs([retry])
    return retry


OVERLAP = "overlap"


def overlap_verdict(schedule, *, active: int) -> tuple[str, str, str]:
    """(status, error_code, error_message) of a new run, given the schedule's active runs.

    The one overlap rule, applied by firing (with the batch's grouped counts) and by run-now:
    below `max_concurrency` the run is queued; at the limit `queue` lets exactly one more
    wait and `skip` records a skipped run. `active` counts queued and running runs.
    """
    allowed = schedule.max_concurrency + (1 if schedule.overlap_policy == OverlapPolicy.QUEUE else 0)
    if active < allowed:
        return RunStatus.QUEUED, "", ""
    return (
        RunStatus.SKIPPED,
        OVERLAP,
        f"{active} run(s) of this schedule already queued or running "
        f"(max concurrency {schedule.max_concurrency}, overlap policy '{schedule.overlap_policy}')",
    )


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
        raise InvalidState(f"agent '{schedule.agent.slug}' is disabled, so this schedule cannot run")
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
            f"only failed, timed-out or canceled runs can be retried; this run is {run.get_status_display().lower()}"
        )
    if not run.schedule.enabled:
        raise InvalidState("the schedule is disabled; enable it before retrying its runs")
    agent = Agent.objects.filter(org_id=run.org_id, slug=run.agent_slug).first()
    if agent is None or not agent.enabled:
        state = "no longer exists" if agent is None else "is disabled"
        raise InvalidState(f"agent '{run.agent_slug}' {state}, so this run cannot be retried")
    attempts = _attempts_of(run)
    pending = attempts.filter(status__in=ACTIVE_STATUSES).order_by("attempt").first()
    if pending is not None:
        raise InvalidState(f"attempt {pending.attempt} of this run is already {pending.get_status_display().lower()}")
    attempt = (attempts.aggregate(n=Max("attempt"))["n"] or run.attempt) + 1
    retry = _build_retry(run, attempt=attempt, now=now, not_before=None, triggered_by=actor.user)
    if not insert_runs([retry]):
        raise InvalidState(f"attempt {attempt} of this run exists already")
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

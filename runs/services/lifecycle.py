"""The run lifecycle: queued -> running -> final, and the automatic retry.

`run_finish` is the one place a run reaches a terminal state. Every transition is a
conditional UPDATE on the current status (healthchecks' claim pattern), so a late callback,
a poll and a timeout racing on one run cannot both win, and a terminal run never changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest

from runs import outcomes
from runs.alerts.failures import after_outcome
from runs.budgets import after_usage
from runs.bulk import insert_runs, mark_running
from runs.models import (
    ACTIVE_STATUSES,
    FAILURE_STATUSES,
    FINISH_STATUSES,
    RunStatus,
    ScheduleRun,
    TriggerType,
)
from runs.plane.base import PlaneResult, PlaneStatus, redact_credentials
from runs.retry import RetryKind, RetryPolicy, decide_retry
from runs.services.create import build_run
from schedules.models import Schedule

log = structlog.get_logger("runs.services")


ERROR_MESSAGE_MAX = 4000


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
    answer: str = "",
    usage: dict | None = None,
    error_code: str = "",
    error_message: str = "",
    now: datetime,
    retry: bool = True,
    lease: tuple[str, datetime] | None = None,
) -> tuple[ScheduleRun | None, bool]:
    """Move an active run to `status`; returns (run as stored, whether this call moved it).

    On a real transition: the schedule's `consecutive_failures` is reset (success) or
    incremented (failed, timeout), which opens, resolves or pauses through the alerts hook
    (runs/alerts/failures.py); `last_run_at` covers the run's occurrence; and a failed or
    timed-out attempt gets the automatic retry that `runs.retry.decide_retry` decides (a new
    attempt queued with `not_before` = its time). `retry=False` forbids one whatever the
    decision (a caller that knows better, e.g. a test ending a run by hand).
    `lease` (owner, expires_at): only a queued run still under that lease moves (a dispatcher
    whose plane call failed after its lease lapsed must not fail a run another one started).
    Credentials in URLs are masked in `error_message`: the run's org reads it.
    """
    if status not in FINISH_STATUSES:
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
    if answer:
        changes["answer"] = answer
    if usage:
        changes.update(usage)  # input_tokens, output_tokens, total_tokens, cost_usd (PlaneResult.usage)
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
        after_usage(run=run, now=now)
        if after_outcome(run=run, now=now):
            run.schedule.enabled = False  # paused just now: no automatic retry
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
    Whether it is retried is decide_retry's answer (an error every attempt would meet again is not).
    """
    if not result.terminal:
        raise ValueError(f"plane status {result.status!r} is not final")
    # A success is judged by what the agent produced (the schedule's success checks).
    result, verdict = outcomes.judge(run, result)
    return run_finish(
        run_id=run.pk,
        status=RUN_STATUS_FOR_PLANE[result.status],
        session_id=result.session_id,
        message_id=result.message_id,
        outputs=result.outputs,
        answer=result.answer,
        usage=result.usage,
        error_code=result.error_code,
        error_message=result.error_message,
        now=now,
        # A failed success check retries by the schedule's choice (retry_failed_checks).
        retry=verdict is None or verdict.retry,
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


def build_retry(run: ScheduleRun, *, attempt: int, now: datetime, not_before, triggered_by=None) -> ScheduleRun:
    retry = build_run(
        schedule=run.schedule,
        scheduled_for=run.scheduled_for,
        now=now,
        trigger_type=TriggerType.RETRY,
        attempt=attempt,
        occurrence_key=run.occurrence_key,
        retry_of=run,
        not_before=not_before,
        triggered_by=triggered_by,
    )
    # A retry repeats what was sent, even if the schedule was edited since.
    retry.agent_slug, retry.prompt, retry.output_type, retry.params = run.agent_slug, run.prompt, run.output_type, run.params
    retry.variables, retry.calendar_note = run.variables, run.calendar_note
    return retry


def _queue_retry(run: ScheduleRun, *, now: datetime) -> ScheduleRun | None:
    schedule = run.schedule
    decision = decide_retry(
        status=run.status, error_code=run.error_code, attempt=run.attempt, policy=RetryPolicy.of(schedule),
        schedule_enabled=schedule.enabled, now=now,
    )
    if decision.kind != RetryKind.NEW_ATTEMPT:
        return None
    retry = build_retry(run, attempt=run.attempt + 1, now=now, not_before=decision.at)
    # Idempotent: the id is derived, so a second writer finds the row instead of adding one.
    insert_runs([retry])
    return retry

"""Run rows: idempotent creation and the queries the scheduler, API and pages share."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from runs.models import RunStatus, ScheduleRun, TriggerType


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


def build_run(
    *,
    schedule,
    scheduled_for: datetime,
    now: datetime,
    trigger_type: str = TriggerType.SCHEDULED,
    attempt: int = 1,
    job_run_id: str | None = None,
    retry_of: ScheduleRun | None = None,
    not_before: datetime | None = None,
    status: str = RunStatus.QUEUED,
    missed_count: int = 0,
    error_code: str = "",
    error_message: str = "",
    triggered_by=None,
) -> ScheduleRun:
    """An unsaved run with the schedule's request snapshotted (editing never rewrites history).

    `schedule.agent` should be loaded (select_related) when building many.
    """
    terminal = status not in (RunStatus.QUEUED, RunStatus.RUNNING)
    return ScheduleRun(
        job_run_id=job_run_id or scheduled_job_run_id(schedule.pk, scheduled_for, attempt),
        schedule_id=schedule.pk,
        org_id=schedule.org_id,
        trigger_type=trigger_type,
        attempt=attempt,
        retry_of=retry_of,
        scheduled_for=scheduled_for,
        status=status,
        not_before=not_before,
        queued_at=now,
        finished_at=now if terminal else None,
        missed_count=missed_count,
        error_code=error_code,
        error_message=error_message,
        agent_slug=schedule.agent.slug,
        prompt=schedule.prompt,
        output_type=schedule.output_type,
        params=schedule.params,
        triggered_by=triggered_by,
        created_at=now,
    )


def insert_runs(runs: list[ScheduleRun]) -> set[str]:
    """Insert, skipping any whose job_run_id exists (ON CONFLICT DO NOTHING).

    Returns the job_run_ids this call actually wrote. Never raises on a collision, so a
    race between replicas never reaches the scheduler loop.
    """
    if not runs:
        return set()
    ScheduleRun.objects.bulk_create(runs, ignore_conflicts=True)
    ids = {run.pk for run in runs}
    # Ours were written iff the row under that job_run_id carries the id we generated.
    written = ScheduleRun.objects.filter(pk__in=ids).values_list("job_run_id", flat=True)
    return set(written)


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

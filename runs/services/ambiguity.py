"""Attempts whose outcome is unknown: the plane may have started a session without telling us.

The ambiguity rule (docs/execution-plane.md, "When we cannot know"): only an answer that proves
the plane did not start the session ends an attempt as failed. Otherwise the attempt keeps its
`job_run_id`; it is recorded as `running` without a session (it may be running, so it counts
against the limits, and the schedule's timeout applies from the first send), and reconcile
sends the same create again (the plane dedups the key) each time its lease lapses, until an
answer names the session (create answer or callback) or the timeout ends it as `timeout`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from runs.models import RunStatus, ScheduleRun
from runs.plane.base import PlaneError, redact_credentials
from runs.retry import DEFAULT_BACKOFF, RetryKind, RetryPolicy, decide_retry
from runs.services import lifecycle
from schedules.models import Schedule

log = structlog.get_logger("runs.services")


def resend_after_seconds() -> float:
    """How long an attempt of unknown outcome waits before the same create is sent again."""
    return settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS


def run_after_create_error(run: ScheduleRun, exc: PlaneError, *, now: datetime, lease=None) -> str:
    """Record a failed create call on `run` as decide_retry says; returns the RetryKind.

    SAME_ATTEMPT (outcome unknown): the run waits as `running` without a session, for a
    resend. Otherwise the attempt ends `failed` (run_finish queues the new attempt, if any).
    `lease` as in run_finish: only while the dispatcher still holds the run.
    """
    # One query for the policy: the dispatcher loads only the schedule fields a plane call reads.
    max_retries, backoff, enabled = Schedule.objects.filter(pk=run.schedule_id).values_list(
        "max_retries", "retry_backoff_seconds", "enabled"
    ).get()
    decision = decide_retry(
        status=RunStatus.FAILED, error_code=exc.code, attempt=run.attempt,
        policy=RetryPolicy(max_retries, tuple(backoff or DEFAULT_BACKOFF)), schedule_enabled=enabled, now=now,
        outcome_unknown=exc.unknown_outcome, resend_after_seconds=resend_after_seconds(),
    )
    if decision.kind == RetryKind.SAME_ATTEMPT:
        run_mark_outcome_unknown(run_id=run.pk, error_code=exc.code, error_message=exc.message, now=now, resend_at=decision.at, lease=lease)
        return decision.kind
    lifecycle.run_finish(
        run_id=run.pk, status=RunStatus.FAILED, error_code=exc.code, error_message=exc.message, now=now, lease=lease
    )
    return decision.kind


def run_mark_outcome_unknown(*, run_id, error_code: str, error_message: str, now: datetime, resend_at: datetime, lease=None) -> bool:
    """queued (under `lease`) -> running without a session, to be sent again at `resend_at`.

    The error stays on the run while it waits (what the last call met); `started_at` is the
    first send, so the schedule's timeout counts from there."""
    runs = lifecycle._held(ScheduleRun.objects.filter(pk=run_id, status=RunStatus.QUEUED), lease)
    moved = runs.update(
        status=RunStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        lease_owner="",
        lease_expires_at=resend_at,
        error_code=error_code[:64],
        error_message=redact_credentials(error_message)[: lifecycle.ERROR_MESSAGE_MAX],
    )
    if moved:
        log.warning("run.outcome_unknown", run_id=str(run_id), error_code=error_code, resend_at=resend_at.isoformat())
    return bool(moved)


def run_note_resend_error(*, run_id, error_code: str, error_message: str) -> None:
    """What the latest resend met, on a run still waiting for its outcome."""
    ScheduleRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, session_id="").update(
        error_code=error_code[:64], error_message=redact_credentials(error_message)[: lifecycle.ERROR_MESSAGE_MAX]
    )


def run_bind_session(*, run_id, session_id: str, message_id: str, now: datetime) -> bool:
    """An answer named the session of an attempt whose outcome was unknown: it is running.

    False when the run is no longer waiting for that (a callback bound it, or it timed out)."""
    moved = ScheduleRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, session_id="").update(
        session_id=session_id,
        message_id=message_id,
        error_code="",
        error_message="",
        lease_owner="",
        lease_expires_at=now + timedelta(seconds=settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS),
    )
    return bool(moved)

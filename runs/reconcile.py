"""Reconcile: what no callback and no worker thread will ever settle on its own.

Each pass, with `now` as an argument:
- **timeouts**: a run still `running` after its schedule's `timeout_seconds` becomes
  `timeout` (which queues its retry) and the plane is asked to cancel the session;
- **expired leases**: a `queued` run whose dispatcher lease ran out (the dispatcher died
  between admitting it and hearing the plane's answer) is released, so the next dispatch
  starts it again with the same `job_run_id`: the plane dedupes on that key;
- **waiting runs that may not start**: a `queued` run without a live lease whose schedule or
  agent is disabled is canceled (`run_cancel_unrunnable`: `schedule_disabled` or
  `agent_disabled`). Disabling a schedule wakes the scheduler (NOTIFY), so on PostgreSQL its
  waiting retries end within a pass; runs already handed to the plane finish as usual;
- **resending**: a `running` run without a session is an attempt whose create call ended
  without a definitive answer (the ambiguity rule, runs/services/ambiguity.py): when its lease
  lapses, this replica claims it and sends the same create again (same key: the plane dedups);
- **owed cancels**: a run that timed out before any answer named its session, and learned it
  later (a callback), gets its cancel sent;
- **polling**: a `running` run whose lease ran out (its first lease is `started_at +
  SCHEDULER_POLL_PLANE_AFTER_SECONDS`; each poll renews it) has had no callback for that
  long: this replica claims the poll by renewing the lease, asks the plane, and applies a
  final answer.

Plane calls (cancel, poll) go through `submit` (the dispatcher's pool, so a slow plane never
holds the scheduler loop); without it they run inline, which tests use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import NotSupportedError
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Func, Q

from runs import eligibility
from runs.models import RunErrorCode, RunStatus, ScheduleRun
from runs.plane import PlaneError, PlaneStatus, get_client
from runs.services import ambiguity, lifecycle

log = structlog.get_logger("runs.reconcile")

# Polls claimed per pass; the rest wait for the next pass (their leases stay expired).
POLL_BATCH = 200


class _Seconds(Func):
    """An integer expression as a duration of that many seconds, for datetime arithmetic.

    Django spells `datetime + duration` for each back-end (SQLite through its own function
    over microseconds), but not `integer * duration` on SQLite: this gives the duration
    directly.
    """

    output_field = DurationField()

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError(f"no duration arithmetic for {connection.vendor} here")

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"make_interval(secs => {sql})", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} * 1000000)", params


# When a running run times out: started_at + its schedule's timeout_seconds.
_DEADLINE = ExpressionWrapper(F("started_at") + _Seconds(F("schedule__timeout_seconds")), output_field=DateTimeField())


def reconcile(*, now: datetime, replica_id: str, client=None, submit=None) -> int:
    """One reconcile pass; returns how many runs it acted on."""
    client = client if client is not None else get_client()
    submit = submit or (lambda fn, *args: fn(*args))
    return (
        time_out_runs(now=now, client=client, submit=submit)
        + release_expired_leases(now=now)
        + cancel_unrunnable_waiting(now=now)
        + resend_unknown(now=now, replica_id=replica_id, client=client, submit=submit)
        + cancel_owed(now=now, client=client, submit=submit)
        + poll_silent_runs(now=now, replica_id=replica_id, client=client, submit=submit)
    )


def time_out_runs(*, now: datetime, client, submit) -> int:
    """running past timeout_seconds -> timeout, then ask the plane to cancel."""
    # The deadline is compared in the database: only the expired rows come back. Loading every
    # running run to compare in Python cost a quarter of the scheduler's time with 20,000 of
    # them in flight (a burst the plane has not finished yet). The database still joins each
    # running run to its schedule (the timeout is read live, so an edit applies to the runs
    # in flight).
    expired = list(
        ScheduleRun.objects.filter(status=RunStatus.RUNNING, started_at__isnull=False)
        .alias(deadline=_DEADLINE)
        .filter(deadline__lte=now)
        .order_by()
        .values_list("id", "schedule__timeout_seconds", "session_id", "error_code", "error_message")
    )
    count = 0
    for run_id, limit, session_id, last_code, last_error in expired:
        if session_id:
            code = RunErrorCode.TIMEOUT
            message = f"still running {limit} s after it started (the schedule's timeout); the plane was asked to cancel it"
        else:
            # Sent, never answered for sure: the last error says why (plane_timeout, plane_http_502...).
            code = last_code or RunErrorCode.PLANE_TIMEOUT
            message = (
                f"no answer from the plane said whether it started the session within {limit} s (the schedule's "
                f"timeout); the last call met: {last_error}"
            )
        run, moved = lifecycle.run_finish(
            run_id=run_id, status=RunStatus.TIMEOUT, error_code=code, error_message=message, now=now
        )
        if not moved:
            continue
        count += 1
        log.warning("run.timed_out", schedule_id=str(run.schedule_id), job_run_id=run.job_run_id, attempt=run.attempt)
        if run.session_id:
            submit(_cancel, client, run)
    return count


def release_expired_leases(*, now: datetime) -> int:
    """Free queued runs whose dispatcher lease lapsed (same job_run_id on the next dispatch)."""
    expired = ScheduleRun.objects.filter(status=RunStatus.QUEUED, lease_expires_at__lte=now)
    stale = list(expired.order_by().values_list("job_run_id", "lease_owner"))
    if not stale:
        return 0
    # Conditional on the lease still being expired: a dispatcher may have re-leased it.
    released = expired.update(lease_owner="", lease_expires_at=None)
    for job_run_id, owner in stale:
        log.warning("run.lease_expired", job_run_id=job_run_id, lease_owner=owner)
    return released


def cancel_unrunnable_waiting(*, now: datetime) -> int:
    """Cancel queued runs of a disabled schedule or agent that no dispatcher holds.

    A waiting retry is not dispatch-ready until its `not_before`; without this it would sit
    queued (shown as waiting) long after its schedule was disabled. A run under a live lease
    is left alone: its plane call may be in flight.
    """
    waiting = ScheduleRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    )
    return eligibility.run_cancel_unrunnable(runs=waiting, now=now)


def resend_unknown(*, now: datetime, replica_id: str, client, submit) -> int:
    """Send again the create of attempts whose outcome is unknown, once their lease lapsed."""
    if client.synchronous:
        return 0
    due = list(
        ScheduleRun.objects.filter(status=RunStatus.RUNNING, session_id="", lease_expires_at__lte=now)
        .order_by("lease_expires_at")
        .values_list("id", flat=True)[:POLL_BATCH]
    )
    claimable = ScheduleRun.objects.filter(status=RunStatus.RUNNING, session_id="", lease_expires_at__lte=now)
    next_try = now + timedelta(seconds=ambiguity.resend_after_seconds())
    return _claim_and_submit(due, claimable, replica_id, next_try, lambda run: submit(_resend, client, run, now))


def cancel_owed(*, now: datetime, client, submit) -> int:
    """Cancel the sessions of timed-out runs that learned them late (ambiguity.run_owe_cancel)."""
    owed = list(
        ScheduleRun.objects.filter(status=RunStatus.TIMEOUT, lease_expires_at__lte=now)
        .exclude(session_id="")
        .values_list("id", flat=True)[:POLL_BATCH]
    )
    count = 0
    for run_id in owed:
        # The claim: whoever clears the mark sends the cancel.
        if ScheduleRun.objects.filter(pk=run_id, lease_expires_at__isnull=False).update(lease_expires_at=None):
            submit(_cancel, client, ScheduleRun.objects.get(pk=run_id))
            count += 1
    return count


def _claim_and_submit(due: list, claimable, replica_id: str, lease_until: datetime, call) -> int:
    """Claim each of `due` still in `claimable` by renewing its lease (one replica wins, the
    others find the lease live and skip it), then `call(run)`; returns how many were claimed."""
    count = 0
    for run_id in due:
        if not claimable.filter(pk=run_id).update(lease_owner=replica_id, lease_expires_at=lease_until):
            continue
        call(ScheduleRun.objects.select_related("schedule", "org").get(pk=run_id))
        count += 1
    return count


def _resend(client, run: ScheduleRun, now: datetime) -> None:
    bind = {"schedule_id": str(run.schedule_id), "job_run_id": run.job_run_id, "attempt": run.attempt}
    try:
        answer = client.start(run)
    except PlaneError as exc:
        if exc.code == RunErrorCode.PLANE_REJECTED:
            # The plane answered about this key: it will not run it.
            lifecycle.run_finish(run_id=run.pk, status=RunStatus.FAILED, error_code=exc.code, error_message=exc.message, now=now)
        else:
            # Still no word (a refusal now says nothing of the first send): the lease brings it back.
            ambiguity.run_note_resend_error(run_id=run.pk, error_code=exc.code, error_message=exc.message)
        log.warning("run.resend_failed", error_code=exc.code, error=exc.message, **bind)
        return
    if not ambiguity.run_bind_session(run_id=run.pk, session_id=answer.session_id, message_id=answer.message_id, now=now):
        run.refresh_from_db(fields=["status", "session_id"])
        if run.status == RunStatus.TIMEOUT and not run.session_id:
            # Timed out before any answer named the session: it is ours to stop now.
            run.session_id = answer.session_id
            _cancel(client, run)
        return
    log.info("run.resent", session_id=answer.session_id, plane_status=answer.status, **bind)
    if answer.status in PlaneStatus.TERMINAL:
        run.session_id = answer.session_id
        _poll(client, run, now)


def poll_silent_runs(*, now: datetime, replica_id: str, client, submit) -> int:
    """Poll running runs that had no callback for SCHEDULER_POLL_PLANE_AFTER_SECONDS."""
    if client.synchronous:
        # The local plane reports from the worker thread; there is nothing to ask.
        return 0
    due = list(
        ScheduleRun.objects.filter(status=RunStatus.RUNNING)
        .exclude(session_id="")
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .order_by("lease_expires_at")
        .values_list("id", flat=True)[:POLL_BATCH]
    )
    claimable = ScheduleRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    )
    next_poll = now + timedelta(seconds=settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS)
    return _claim_and_submit(due, claimable, replica_id, next_poll, lambda run: submit(_poll, client, run, now))


def _poll(client, run: ScheduleRun, now: datetime) -> None:
    bind = {"schedule_id": str(run.schedule_id), "job_run_id": run.job_run_id, "attempt": run.attempt}
    try:
        result = client.poll(run)
    except PlaneError as exc:
        if exc.code == RunErrorCode.PLANE_SESSION_NOT_FOUND:
            # The plane lost the session: it will never finish, so fail it (and retry).
            lifecycle.run_finish(run_id=run.pk, status=RunStatus.FAILED, error_code=exc.code, error_message=exc.message, now=now)
            log.warning("run.session_lost", error=exc.message, **bind)
        else:
            # Transient: the lease brings the run back next interval; the timeout ends it at worst.
            log.warning("run.poll_failed", error_code=exc.code, error=exc.message, **bind)
        return
    if result.session_id and result.session_id != run.session_id:
        log.warning("run.poll_session_mismatch", plane_session_id=result.session_id, session_id=run.session_id, **bind)
        return
    if result.terminal:
        lifecycle.run_apply_plane_result(run, result, now=now)
        log.info("run.polled", plane_status=result.status, **bind)


CANCEL_TRIES = 3


def _cancel(client, run: ScheduleRun) -> None:
    """Ask the plane to stop the session. Repeating a cancel is harmless, so one whose outcome
    is unknown (timeout, reset, 5xx) is sent again, up to CANCEL_TRIES times."""
    for _ in range(CANCEL_TRIES):
        try:
            client.cancel(run)
            return
        except PlaneError as exc:
            log.warning("run.cancel_failed", job_run_id=run.job_run_id, error_code=exc.code, error=exc.message)
            if not exc.unknown_outcome:
                return

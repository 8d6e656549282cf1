"""Firing: turn due schedules into run rows.

One batch is one transaction: claim up to `batch_size` due schedules with
`SELECT ... FOR UPDATE SKIP LOCKED` (replicas never wait on each other and never claim the
same row), decide one run per schedule by the catch-up and overlap rules, insert the runs in
bulk (`ON CONFLICT DO NOTHING` on the deterministic `job_run_id`, so even a claim that slipped
through could not write a second row), and advance every schedule's `next_run_at` with one
UPDATE; both statements are `runs.bulk`'s. Nothing here reads the clock: `now` is an argument.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta

import structlog
from django.db import connections, transaction
from django.db.models import Count
from django.utils import translation

from runs import bulk, calendar_data, rows
from runs.budgets import BudgetGate
from runs.models import ACTIVE_STATUSES, RunErrorCode, RunStatus, ScheduleRun
from runs.services.ids import attempt_job_run_id, scheduled_occurrence_key
from runs.services.overlap import overlap_verdict
from schedules import timing
from schedules.models import Schedule

log = structlog.get_logger("runs.firing")

# How far a schedule whose next time cannot be computed is pushed: far enough that one bad
# row does not cost a failing computation every pass (healthchecks' crash-loop guard), near
# enough that a fix in the timing code is picked up the same day.
BAD_TIMING_RETRY = timedelta(hours=1)
TIMING_ERROR_MAX_LENGTH = 1000


@dataclass
class FireResult:
    """What one or more batches did; `written` counts rows this replica inserted."""

    claimed: int = 0
    queued: int = 0
    skipped: int = 0
    finished: int = 0
    flagged: int = 0
    batches: int = 0
    collisions: int = 0
    seconds: float = 0.0
    # (job_run_id, status) of the rows written by the last batch, for callers that act on them.
    last_batch: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def written(self) -> int:
        return self.queued + self.skipped

    def add(self, other: FireResult) -> None:
        for name in ("claimed", "queued", "skipped", "finished", "flagged", "batches", "collisions", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_batch = other.last_batch


@dataclass
class _Planned:
    """One run to write: what differs between runs of a batch (the rest is the schedule's)."""

    schedule: Schedule
    scheduled_for: datetime
    status: str = RunStatus.QUEUED
    missed_count: int = 0
    error_code: str = ""
    error_message: str = ""
    attempt: int = 1
    not_before: datetime | None = None
    calendar_note: str = ""

    @property
    def schedule_id(self):
        return self.schedule.pk

    @cached_property
    def occurrence_key(self) -> str:
        return scheduled_occurrence_key(self.schedule.pk, self.scheduled_for)

    @cached_property
    def job_run_id(self) -> str:
        return attempt_job_run_id(self.occurrence_key, self.attempt)

    def values(self, now: datetime) -> dict:
        return bulk.run_values(
            schedule=self.schedule, job_run_id=self.job_run_id, occurrence_key=self.occurrence_key, scheduled_for=self.scheduled_for, now=now,
            status=self.status, attempt=self.attempt, missed_count=self.missed_count, not_before=self.not_before,
            error_code=self.error_code, error_message=self.error_message, calendar_note=self.calendar_note,
        )


@dataclass
class _Decision:
    run: _Planned | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    timing_error: str = ""


def fire_due(
    *, now: datetime, batch_size: int, replica_id: str = "", on_batch=None, keep_going=None, threads: int = 1
) -> FireResult:
    """Fire every schedule due at `now`, batch after batch, until none is left.

    `on_batch(result)` is called after each committed batch (the scheduler may hand the new
    runs to the dispatcher there, so a long firing step does not hold every plane call).
    `keep_going()` is asked between batches: a stopping scheduler ends after the batch in
    hand, leaving the rest due for the next start (or another replica).

    `threads` > 1 (PostgreSQL): once a batch comes back full (a burst), that many threads
    claim batches side by side, each on its own connection, as replicas do (SKIP LOCKED: no
    row twice). A batch waits on the database about half of its time; another thread's
    Python fills the wait.
    """
    total = FireResult()
    lock = threading.Lock()
    budgets = BudgetGate(now)  # read at most once per pass, on the first occurrence to fire

    def batches(*, first_only: bool = False) -> bool:
        """Batch after batch into `total`; True when nothing due is left (or the scheduler stops)."""
        while True:
            batch = fire_batch(now=now, batch_size=batch_size, replica_id=replica_id, budgets=budgets)
            with lock:
                total.add(batch)
            if on_batch is not None and batch.written:
                on_batch(batch)
            # A short batch means nothing due was left unlocked; every claimed row moved past
            # `now` (fire_batch guarantees it), so a full batch cannot repeat forever.
            if batch.claimed < batch_size:
                return True
            if keep_going is not None and not keep_going():
                return True
            if first_only:
                return False

    if batches(first_only=True):
        return total
    failures: list[BaseException] = []

    def helper() -> None:
        try:
            batches()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    # Each with a copy of the caller's context: the log fields bound to it (the replica).
    helpers = [
        threading.Thread(target=contextvars.copy_context().run, args=(helper,), name=f"fire-{n}", daemon=True)
        for n in range(1, max(1, threads))
    ]
    for thread in helpers:
        thread.start()
    try:
        batches()
    finally:
        for thread in helpers:
            thread.join()
    if failures:
        raise failures[0]
    return total


def claim_due_queryset(*, now: datetime, batch_size: int):
    """The claim: due enabled schedules, oldest first, locked, skipping rows others hold.

    `of=("self",)` locks the schedule rows only: locking the joined agent too would make two
    replicas skip each other's schedules of the same agent. Served by the partial index
    `schedule_due_idx` (next_run_at where enabled) as a range scan on due rows only.
    """
    return (
        Schedule.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("agent")
        .defer(*_NOT_NEEDED_TO_FIRE)
        .filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
    )[:batch_size]


def fire_batch(*, now: datetime, batch_size: int, replica_id: str = "", budgets: BudgetGate | None = None) -> FireResult:
    """Claim one batch and fire it, in one transaction."""
    started = time.perf_counter()
    budgets = budgets or BudgetGate(now)
    result = FireResult(batches=1)
    # English whatever language is active: a schedule's timing_error and a run's error_message
    # are stored data, read later by anyone (and by the API in English), not this caller's UI.
    with translation.override("en"), rows.paused_gc(), transaction.atomic():
        schedules = rows.load(claim_due_queryset(now=now, batch_size=batch_size), fields=_TO_FIRE, related=_RELATED_TO_FIRE)
        result.claimed = len(schedules)
        if not schedules:
            result.seconds = time.perf_counter() - started
            return result
        active = _active_counts([s.pk for s in schedules])
        decisions, memo = {}, {}
        for schedule in schedules:
            decision = _decide_safely(
                schedule, now=now, active=active.get(schedule.pk, 0), replica_id=replica_id, memo=memo, budgets=budgets
            )
            decisions[schedule.pk] = decision
            if decision.timing_error:
                result.flagged += 1
            elif decision.next_run_at is None:
                result.finished += 1
        runs = [d.run for d in decisions.values() if d.run is not None]
        written = bulk.insert_run_values([run.values(now) for run in runs])
        _advance(schedules, decisions)
        noted = [run for run in runs if run.calendar_note and run.job_run_id in written]
        if noted:
            calendar_data.alert_missing_data(noted, now=now)
    result.seconds = time.perf_counter() - started
    result.collisions = len(runs) - len(written)
    # structlog runs its processors before the level filter: skip them when INFO is off.
    log_runs = logging.getLogger("runs.firing").isEnabledFor(logging.INFO)
    for run in runs:
        if run.job_run_id not in written:
            # Another writer already holds this occurrence: not ours to log or dispatch.
            log.warning(
                "run.collision", schedule_id=str(run.schedule_id), job_run_id=run.job_run_id,
                attempt=run.attempt, replica=replica_id,
            )
            continue
        if run.status == RunStatus.QUEUED:
            result.queued += 1
        else:
            result.skipped += 1
        result.last_batch.append((run.job_run_id, run.status))
        if log_runs:
            log.info(
                "run.fired",
                schedule_id=str(run.schedule_id),
                job_run_id=run.job_run_id,
                attempt=run.attempt,
                scheduled_for=run.scheduled_for.isoformat(),
                status=run.status,
                missed_count=run.missed_count,
                error_code=run.error_code or None,
                replica=replica_id,
            )
    return result


def _active_counts(schedule_ids) -> dict:
    """Queued-or-running runs per schedule, for the whole batch in one grouped query."""
    rows = (
        ScheduleRun.objects.filter(bulk.id_in("schedule_id", schedule_ids), status__in=ACTIVE_STATUSES)
        .order_by()
        .values_list("schedule_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def _decide_safely(
    schedule: Schedule, *, now: datetime, active: int, replica_id: str, memo: dict, budgets: BudgetGate
) -> _Decision:
    """`_decide`, with any failure of the timing code turned into a flagged, pushed-forward row.

    Without this guard one schedule whose next time cannot be computed would fail its whole
    batch every pass, and the scheduler would crash-loop on it while every other schedule
    in the batch starved.
    """
    try:
        return _decide(schedule, now=now, active=active, memo=memo, budgets=budgets)
    except Exception as exc:  # noqa: BLE001 - any error of one row must not stop the others
        message = f"{type(exc).__name__}: {exc}"[:TIMING_ERROR_MAX_LENGTH]
        pushed_to = now + BAD_TIMING_RETRY
        log.error(
            "schedule.timing_error",
            schedule_id=str(schedule.pk),
            error=message,
            next_run_at=pushed_to.isoformat(),
            replica=replica_id,
        )
        return _Decision(run=None, next_run_at=pushed_to, last_run_at=schedule.last_run_at, timing_error=message)


def _decide(schedule: Schedule, *, now: datetime, active: int, memo: dict, budgets: BudgetGate) -> _Decision:
    spec = schedule.timing_spec()
    # Many schedules share an expression, a zone and a due time (everyone's "0 9 * * 1-5");
    # the answer depends on nothing else, so a batch computes it once.
    key = (spec, schedule.next_run_at, schedule.catchup_window_seconds)
    catch = memo.get(key)
    if catch is None:
        catch = memo[key] = timing.catch_up(
            spec, due_at=schedule.next_run_at, now=now, window_seconds=schedule.catchup_window_seconds
        )
    if catch.next_run_at is not None and catch.next_run_at <= now:
        # Refiring it next batch would loop forever inside one pass.
        raise ValueError(f"next fire time {catch.next_run_at.isoformat()} is not after {now.isoformat()}")
    run = None
    last_run_at = schedule.last_run_at
    if catch.fire_at is not None:
        run = _occurrence_run(
            schedule, fire_at=catch.fire_at, missed=catch.missed_count, now=now, active=active, budgets=budgets
        )
        last_run_at = catch.fire_at
    elif catch.missed_count > 0:
        # Every passed occurrence is older than the catch-up window: none fires, but one
        # skipped row says so, so that a long outage never drops runs silently.
        newest = catch.newest_at  # always set when occurrences passed
        run = _Planned(
            schedule=schedule,
            scheduled_for=newest,
            status=RunStatus.SKIPPED,
            missed_count=catch.missed_count,
            error_code=RunErrorCode.MISSED,
            error_message=(
                f"{catch.missed_count} occurrence(s) from {schedule.next_run_at.isoformat()} to "
                f"{newest.isoformat()} passed while the scheduler was not running; the newest is older "
                f"than the catch-up window of {schedule.catchup_window_seconds} s, so none was run."
            ),
        )
        last_run_at = newest
    return _Decision(run=run, next_run_at=catch.next_run_at, last_run_at=last_run_at)


def _occurrence_run(
    schedule: Schedule, *, fire_at: datetime, missed: int, now: datetime, active: int, budgets: BudgetGate
) -> _Planned:
    if not schedule.agent.enabled:
        status, code, message = RunStatus.SKIPPED, RunErrorCode.AGENT_DISABLED, f"agent '{schedule.agent.slug}' is disabled"
    elif spent := budgets.verdict(schedule):
        status, code, message = spent
    else:
        # The same rule as run-now, with `active` from the batch's one grouped count.
        status, code, message = overlap_verdict(schedule, active=active)
    return _Planned(
        schedule=schedule,
        scheduled_for=fire_at,
        status=status,
        missed_count=missed,
        error_code=code,
        error_message=message,
        not_before=_jittered(schedule, fire_at) if status == RunStatus.QUEUED else None,
        calendar_note=calendar_data.occurrence_note(schedule, fire_at) if schedule.calendar else "",
    )


def _jittered(schedule: Schedule, fire_at: datetime) -> datetime | None:
    """With jitter, the run waits (queued, `not_before`) its schedule's fixed delay for this
    occurrence: the row is written on time, the plane call spread over the window."""
    if not schedule.jitter_seconds:
        return None
    return fire_at + timing.jitter_delay(schedule.pk, fire_at, schedule.jitter_seconds)


# Neither the decision nor the run's snapshot reads these: not worth fetching for a batch.
_NOT_NEEDED_TO_FIRE = (
    "name", "description", "retry_backoff_seconds", "source_session_id", "source_message_id", "updated_at",
    "timing_error", "max_retries", "timeout_seconds", "alert_after_failures", "consecutive_failures",
    "pause_after_failures", "paused_reason", "agent__name", "agent__description", "agent__created_at",
    "success_checks",
)
# The fields the claim loads, for runs.rows (the same as the claim queryset's `defer`).
_TO_FIRE = [f.attname for f in Schedule._meta.concrete_fields if f.name not in _NOT_NEEDED_TO_FIRE]
_RELATED_TO_FIRE = {
    "agent": [f.attname for f in Schedule.agent.field.related_model._meta.concrete_fields if f"agent__{f.name}" not in _NOT_NEEDED_TO_FIRE]
}


def _advance(schedules: list[Schedule], decisions: dict) -> None:
    """Write next_run_at, last_run_at and timing_error for the whole batch in one statement."""
    for schedule in schedules:
        d = decisions[schedule.pk]
        schedule.next_run_at, schedule.last_run_at, schedule.timing_error = d.next_run_at, d.last_run_at, d.timing_error
    bulk.update_many(schedules, ["next_run_at", "last_run_at", "timing_error"])

"""Manual compensation: run the occurrences of a time range that never got a run.

After an outage the scheduler fires only the newest missed occurrence (catch-up) and counts
the others on that run's `missed_count`; a backfill runs those others, on request. Each
backfilled run is attempt 1 of its occurrence, so its job_run_id is the one firing derives
(`<occurrence key>-1`): the unique constraint on job_run_id lets exactly one writer hold an
occurrence, whether the scheduler fires it, a backfill runs it, or both race (the insert is
ON CONFLICT DO NOTHING, so the loser writes nothing and raises nothing; the schedule row is
locked first so the race cannot deadlock). The one occurrence with a row that never started
(skipped as `missed`) gets attempt 2 the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from config.errors import InvalidState
from runs import calendar_data
from runs.bulk import insert_runs
from runs.models import RunErrorCode, RunStatus, ScheduleRun, TriggerType
from runs.services.create import build_run
from runs.services.ids import attempt_job_run_id, scheduled_occurrence_key
from schedules import timing
from schedules.models import Schedule

log = structlog.get_logger("runs.services")

ONE_US = timedelta(microseconds=1)
# Existence checks per query (a call looks at up to BACKFILL_MAX_OCCURRENCES occurrences).
LOOKUP_BATCH = 2000


@dataclass
class BackfillResult:
    start: datetime
    end: datetime
    dry_run: bool
    expected: int = 0  # occurrences of the schedule in [start, end)
    already_run: int = 0  # of those, how many ran or were skipped for a reason of their own
    # The occurrences this call ran (dry run: would run), oldest first, at most the cap.
    scheduled_for: list[datetime] = field(default_factory=list)
    runs: list[ScheduleRun] = field(default_factory=list)  # created (empty on a dry run)
    remaining: int = 0  # missing occurrences left for another call (beyond the cap)


def occurrence_job_run_id(schedule_id, scheduled_for: datetime) -> str:
    """The id attempt 1 of an occurrence has, whoever wrote it (firing or a backfill)."""
    return attempt_job_run_id(scheduled_occurrence_key(schedule_id, scheduled_for), 1)


def _first_after_creation(schedule: Schedule, start: datetime) -> datetime:
    # The first fire time is the first after the instant the schedule was created, as
    # `compute_next_run_at` set it: nothing was due before.
    return max(start - ONE_US, schedule.created_at)


def expected_occurrences(schedule: Schedule, start: datetime, end: datetime, *, limit: int | None = None) -> list[datetime]:
    """The schedule's fire times in [start, end) after its creation, oldest first (at most `limit`).

    Uses the schedule's timing as it is now: an edit of the timing changes what is expected
    for the past too (the audit trail says when it changed).
    """
    spec = schedule.timing_spec()
    fires, cur = [], _first_after_creation(schedule, start)
    while limit is None or len(fires) < limit:
        cur = timing.next_fire(spec, cur)
        if cur is None or cur >= end:
            break
        fires.append(cur)
    return fires


def count_occurrences(schedule: Schedule, start: datetime, end: datetime) -> int:
    """How many fire times `expected_occurrences` would list, without visiting each one:
    the catch-up count (whole days at once), which a month of a minutely schedule needs."""
    spec = schedule.timing_spec()
    first = timing.next_fire(spec, _first_after_creation(schedule, start))
    if first is None or first >= end:
        return 0
    # A negative window fires none: every occurrence in [first, end) is counted as missed.
    return timing.catch_up(spec, due_at=first, now=end - ONE_US, window_seconds=-1).missed_count


def _existing(ids: list[str]) -> dict[str, ScheduleRun]:
    """The runs among `ids` that exist, by job_run_id (served by its unique index)."""
    found: dict[str, ScheduleRun] = {}
    for i in range(0, len(ids), LOOKUP_BATCH):
        rows = ScheduleRun.objects.filter(job_run_id__in=ids[i : i + LOOKUP_BATCH]).only(
            "id", "job_run_id", "occurrence_key", "status", "error_code"
        )
        found.update((run.job_run_id, run) for run in rows)
    return found


def missing_occurrences(schedule_id, occurrences: list[datetime]) -> list[tuple[datetime, ScheduleRun | None]]:
    """The occurrences that never ran, oldest first, each with the run it would follow.

    No run at all: the backfill is attempt 1 (None). Only a `skipped` run with error `missed`
    (the newest occurrence of an outage longer than the catch-up window, written so the outage
    is not silent): it never started, so the backfill is its attempt 2, which no other writer
    makes (only failures are retried), and is missing while that attempt does not exist.
    """
    firsts = _existing([occurrence_job_run_id(schedule_id, when) for when in occurrences])
    never_started = [
        run for run in firsts.values() if run.status == RunStatus.SKIPPED and run.error_code == RunErrorCode.MISSED
    ]
    seconds = _existing([attempt_job_run_id(run.occurrence_key, 2) for run in never_started])
    missing = []
    for when in occurrences:
        first = firsts.get(occurrence_job_run_id(schedule_id, when))
        if first is None:
            missing.append((when, None))
        elif first in never_started and attempt_job_run_id(first.occurrence_key, 2) not in seconds:
            missing.append((when, first))
    return missing


def _backfill_run(schedule: Schedule, when: datetime, follows: ScheduleRun | None, *, now: datetime, actor: Actor):
    attempt = {"attempt": 2, "occurrence_key": follows.occurrence_key, "retry_of": follows} if follows else {}
    return build_run(
        schedule=schedule, scheduled_for=when, now=now, trigger_type=TriggerType.BACKFILL, triggered_by=actor.user,
        calendar_note=calendar_data.occurrence_note(schedule, when), **attempt,
    )


def _runnable(schedule: Schedule) -> Schedule:
    """The schedule, unless it or its agent is disabled (the dispatcher would only cancel the runs)."""
    if not schedule.enabled:
        raise InvalidState(_("the schedule is disabled; enable it before backfilling its runs"))
    if not schedule.agent.enabled:
        raise InvalidState(
            _("agent '%(agent)s' is disabled, so this schedule cannot run") % {"agent": schedule.agent.slug}
        )
    return schedule


def _choose(result: BackfillResult, missing: list) -> list:
    """The first BACKFILL_MAX_RUNS of `missing`, with the counts of the rest set on `result`."""
    chosen = missing[: settings.BACKFILL_MAX_RUNS]
    result.remaining = len(missing) - len(chosen)
    result.already_run = result.expected - len(missing)
    return chosen


def check_range(*, start: datetime, end: datetime) -> None:
    """ValidationError naming `from`/`to` unless both have an offset, start < end, and the range
    spans at most BACKFILL_MAX_DAYS (a backfill, and the report of what happened)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError({"from": [_("give times with their UTC offset, e.g. 2026-12-01T09:00:00+08:00")]})
    if end <= start:
        raise ValidationError({"to": [_("must be after `from`")]})
    max_days = settings.BACKFILL_MAX_DAYS
    if end - start > timedelta(days=max_days):
        raise ValidationError({"to": [_("the range may span at most %(days)s days; split it into several") % {"days": max_days}]})


def check_backfill_range(*, start: datetime, end: datetime, now: datetime) -> None:
    """`check_range`, and `to` not in the future: the scheduler runs what is still to come."""
    check_range(start=start, end=end)
    if end > now:
        raise ValidationError(
            {"to": [_("must not be later than now (%(now)s): future occurrences run on their own") % {"now": now.isoformat()}]}
        )


def schedule_backfill(
    *, schedule: Schedule, start: datetime, end: datetime, actor: Actor, now: datetime, dry_run: bool = False
) -> BackfillResult:
    """Queue one `backfill` run per occurrence in [start, end) that has no run yet.

    At most BACKFILL_MAX_RUNS per call, oldest first; `remaining` says how many are left
    (call again with the same range). A dry run writes nothing and lists what would run.
    Refused (InvalidState) while the schedule or its agent is disabled: the dispatcher would
    only cancel the runs. Audited once per call that queued runs.
    """
    check_backfill_range(start=start, end=end, now=now)
    schedule = _runnable(Schedule.objects.select_related("agent", "org").get(pk=schedule.pk))
    total = count_occurrences(schedule, start, end)
    if total > settings.BACKFILL_MAX_OCCURRENCES:
        raise ValidationError(
            {
                "to": [
                    _(
                        "the range holds %(total)s occurrences of this schedule; one backfill looks at most at "
                        "%(limit)s: choose a shorter range"
                    )
                    % {"total": total, "limit": settings.BACKFILL_MAX_OCCURRENCES}
                ]
            }
        )
    occurrences = expected_occurrences(schedule, start, end)
    result = BackfillResult(start=start, end=end, dry_run=dry_run, expected=len(occurrences))
    if dry_run:
        chosen = _choose(result, missing_occurrences(schedule.pk, occurrences))
        result.scheduled_for = [when for when, _ in chosen]
        return result
    with transaction.atomic():
        # Lock the schedule row first, as run-now does. The runs' foreign key takes a share
        # lock on it at the end of the INSERT, after the rows (and their job_run_ids) are in:
        # had a scheduler pass claimed the row meanwhile (FOR UPDATE) and gone on to insert
        # one of the same occurrences, each would wait for the other (a deadlock, seen in
        # tests/runs/test_backfill.py on PostgreSQL). Locked first, the scheduler's claim
        # skips this schedule until we commit, or we wait for its batch and then see its runs.
        schedule = _runnable(
            Schedule.objects.select_for_update(of=("self",)).select_related("agent", "org").get(pk=schedule.pk)
        )
        chosen = _choose(result, missing_occurrences(schedule.pk, occurrences))
        runs = [_backfill_run(schedule, when, follows, now=now, actor=actor) for when, follows in chosen]
        written = insert_runs(runs)
        # Under the lock nothing else inserts these occurrences; a collision is harmless anyway.
        result.runs = [run for run in runs if run.job_run_id in written]
        result.scheduled_for = [run.scheduled_for for run in result.runs]
        result.already_run += len(runs) - len(result.runs)
        if result.runs:
            audit.record(
                actor=actor,
                org=schedule.org,
                action=AuditAction.BACKFILL,
                target=schedule,
                now=now,
                after={
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                    "queued": len(result.runs),
                    "first": result.scheduled_for[0].isoformat(),
                    "last": result.scheduled_for[-1].isoformat(),
                    "remaining": result.remaining,
                },
            )
    log.info(
        "run.backfill", schedule_id=str(schedule.pk), queued=len(result.runs), already_run=result.already_run,
        remaining=result.remaining, actor=actor.label,
    )
    return result

"""The one overlap rule, applied by firing (with a batch's grouped counts) and by run-now."""

from __future__ import annotations

from runs.models import ACTIVE_STATUSES, RunErrorCode, RunStatus, ScheduleRun
from schedules.models import OverlapPolicy


def active_run_count(schedule_id) -> int:
    """The schedule's queued and running runs (served by `run_active_by_schedule`)."""
    return ScheduleRun.objects.filter(schedule_id=schedule_id, status__in=ACTIVE_STATUSES).count()


def overlap_verdict(schedule, *, active: int) -> tuple[str, str, str]:
    """(status, error_code, error_message) of a new run, given the schedule's active runs.

    Below `max_concurrency` the run is queued; at the limit `queue` lets exactly one more
    wait and `skip` records a skipped run. `active` counts queued and running runs.
    The message is stored in the run row, so it stays English (not marked for translation).
    """
    allowed = schedule.max_concurrency + (1 if schedule.overlap_policy == OverlapPolicy.QUEUE else 0)
    if active < allowed:
        return RunStatus.QUEUED, "", ""
    return (
        RunStatus.SKIPPED,
        RunErrorCode.OVERLAP,
        f"{active} run(s) of this schedule already queued or running "
        f"(max concurrency {schedule.max_concurrency}, overlap policy '{schedule.overlap_policy}')",
    )

"""New runs: what one holds (`build_run`, the ORM side of `bulk.run_values`) and writing one
idempotently by its job_run_id."""

from __future__ import annotations

from runs.bulk import insert_runs, run_values
from runs.models import ScheduleRun


def build_run(**fields) -> ScheduleRun:
    """An unsaved run: the ORM path of `bulk.run_values` (which derives the ids)."""
    return ScheduleRun(**run_values(**fields))


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

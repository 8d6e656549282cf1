"""A clean stop: what a scheduler replica gives back before it exits (`Scheduler.shutdown`).

A replica that stops on SIGTERM/SIGINT (a rolling restart, a scale-down) must not read as a
fault. It gives back the `queued` runs still leased to it (admitted, but their plane call
never started: the pool was closing), so another replica sends them at once with the same
`job_run_id` instead of after the lease (`SCHEDULER_LEASE_SECONDS`) and a `run.lease_expired`
warning; meanwhile they would hold their org's and schedule's concurrency slots. Its heartbeat
is then written one last time with `stopped_at` (runs/scheduler.py), so the health check,
the metrics and the `scheduler_stalled` alert count it as retired, not as stale
(runs/alerts/stall.py, `replica_states`).

Only after the plane calls in flight have finished: a run whose call is still on the wire
keeps its lease. `running` runs keep theirs too: there the lease is the time of the next poll,
which any replica takes over when it ends.
"""

from __future__ import annotations

import structlog

from runs.models import RunStatus, ScheduleRun

log = structlog.get_logger("runs.scheduler")


def release_leases(*, replica_id: str) -> int:
    """Free the queued runs leased to `replica_id`; returns how many."""
    released = ScheduleRun.objects.filter(status=RunStatus.QUEUED, lease_owner=replica_id).update(
        lease_owner="", lease_expires_at=None
    )
    if released:
        log.info("scheduler.leases_released", replica=replica_id, runs=released)
    return released

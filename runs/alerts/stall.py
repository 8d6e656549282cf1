"""Is the scheduler running? Heartbeats against overdue schedules.

A stalled process cannot report itself, so this runs elsewhere: `manage.py
check_scheduler_health` (a probe or cron), every live replica for the others
(`Scheduler.check_alerts`), and the pages' banner (`late_banner`, one query).

- healthy: a replica beat within SCHEDULER_STALL_SECONDS, nothing is overdue, no replica
  stopped beating recently;
- stalled: no replica beat within SCHEDULER_STALL_SECONDS while a schedule is overdue (its
  next_run_at more than SCHEDULER_STALL_SECONDS ago);
- degraded: anything between (a replica went silent while another beats; the scheduler beats
  but schedules are late; nothing beats but nothing is late yet).

A replica that stopped cleanly (SIGTERM/SIGINT) is not "silent": it retired its heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Subquery

from runs.alerts.models import Alert, AlertCause
from runs.alerts.services import alert_raise, alerts_resolve
from runs.models import SchedulerHeartbeat
from schedules.models import Schedule

HEALTHY, DEGRADED, STALLED = "healthy", "degraded", "stalled"
EXIT_CODES = {HEALTHY: 0, STALLED: 1, DEGRADED: 2}
# A replica silent for longer than this many stall periods is taken as stopped for good
# (scaled down, redeployed), not as a replica in trouble.
FORGET_AFTER_STALLS = 10


def _stall() -> timedelta:
    return timedelta(seconds=settings.SCHEDULER_STALL_SECONDS)


def overdue_schedules(now: datetime):
    """Enabled schedules whose next fire time is more than one stall period past."""
    return Schedule.objects.filter(enabled=True, next_run_at__lt=now - _stall())


@dataclass
class Health:
    status: str
    reason: str
    now: datetime
    last_beat_at: datetime | None
    fresh: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    overdue: int = 0
    oldest_overdue_at: datetime | None = None
    late_org_ids: set = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def as_dict(self) -> dict:
        age = (self.now - self.last_beat_at).total_seconds() if self.last_beat_at else None
        oldest = (self.now - self.oldest_overdue_at).total_seconds() if self.oldest_overdue_at else None
        return {
            "status": self.status,
            "reason": self.reason,
            "checked_at": self.now.isoformat(),
            "last_beat_at": self.last_beat_at.isoformat() if self.last_beat_at else None,
            "last_beat_age_seconds": round(age, 1) if age is not None else None,
            "stall_seconds": settings.SCHEDULER_STALL_SECONDS,
            "replicas_fresh": self.fresh,
            "replicas_stale": self.stale,
            "overdue_schedules": self.overdue,
            "oldest_overdue_seconds": round(oldest, 1) if oldest is not None else None,
        }


@dataclass(frozen=True)
class Replicas:
    """The scheduler replicas as the health check, the metrics and the alerts see them."""

    fresh: list[str]  # beat within SCHEDULER_STALL_SECONDS
    stale: list[str]  # went silent without stopping (killed, hung, host lost), not yet forgotten
    last_beat_at: datetime | None  # the newest beat of any replica, retired ones included


def replica_states(*, now: datetime, alive: str | None = None) -> Replicas:
    """Fresh and stale replicas. A replica that stopped cleanly retired its row (`stopped_at`,
    written by `Scheduler.shutdown`) and is neither: a rolling restart is not a fault. Only one
    that went silent without a word counts as stale, until FORGET_AFTER_STALLS stall periods.

    `alive`: the replica asking, which is running now (a live replica checking the others).
    """
    stall = _stall()
    beats = list(
        SchedulerHeartbeat.objects.filter(
            last_beat_at__gte=now - stall * FORGET_AFTER_STALLS, stopped_at__isnull=True
        ).values_list("replica_id", "last_beat_at")
    )
    last_beat_at = SchedulerHeartbeat.objects.aggregate(last=Max("last_beat_at"))["last"]
    fresh = sorted(replica for replica, at in beats if at >= now - stall)
    stale = sorted(replica for replica, at in beats if at < now - stall and replica != alive)
    if alive and alive not in fresh:
        fresh = sorted([*fresh, alive])
    return Replicas(fresh, stale, last_beat_at)


def scheduler_health(*, now: datetime, alive: str | None = None) -> Health:
    """`alive`: the replica asking, which is running now (a live replica checking the others)."""
    stall = _stall()
    replicas = replica_states(now=now, alive=alive)
    fresh, stale, last_beat_at = replicas.fresh, replicas.stale, replicas.last_beat_at
    overdue = overdue_schedules(now)
    oldest = overdue.order_by("next_run_at").values_list("next_run_at", flat=True).first()
    count, late_orgs = 0, set()
    if oldest is not None:
        count = overdue.count()
        late_orgs = set(overdue.order_by().values_list("org_id", flat=True).distinct())
    if not fresh and oldest is not None:
        status, reason = STALLED, f"no scheduler heartbeat for over {int(stall.total_seconds())}s and {count} schedule(s) overdue"
    elif not fresh:
        status, reason = DEGRADED, "no scheduler heartbeat, but no schedule is overdue yet"
    elif oldest is not None:
        status, reason = DEGRADED, f"the scheduler beats but {count} schedule(s) are overdue"
    elif stale:
        status, reason = DEGRADED, f"replica(s) stopped beating: {', '.join(stale)}"
    else:
        status, reason = HEALTHY, "a scheduler beats and nothing is overdue"
    return Health(status, reason, now, last_beat_at, fresh, stale, count, oldest, late_orgs)


def ago_words(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    minutes = max(1, round((now - then).total_seconds() / 60))
    return f"{minutes} min ago"


def health_alerts(health: Health) -> tuple[int, int]:
    """Open `scheduler_stalled` for each org with late schedules while stalled; resolve it for
    orgs with nothing late once a replica beats again. Returns (opened, resolved).

    Each org reads its own figures only: its overdue count, never the platform's, and no
    replica name (those stay in the health check's output, the logs and the metrics).
    """
    opened = resolved = 0
    if health.status == STALLED:
        counts = dict(
            overdue_schedules(health.now).filter(org_id__in=health.late_org_ids)
            .values_list("org_id").annotate(n=Count("id")).order_by()
        )
        last_ran = ago_words(health.now, health.last_beat_at)
        for org_id in sorted(health.late_org_ids):
            detail = f"Schedules are late: the scheduler last ran {last_ran} ({counts.get(org_id, 0)} schedule(s) overdue)."
            opened += alert_raise(org_id=org_id, cause=AlertCause.SCHEDULER_STALLED, detail=detail, now=health.now) is not None
    if health.fresh:
        open_stalls = Alert.objects.filter(cause=AlertCause.SCHEDULER_STALLED).exclude(org_id__in=health.late_org_ids)
        detail = "The scheduler is running again; nothing is overdue."
        resolved = len(alerts_resolve(open_stalls, detail=detail, now=health.now))
    return opened, resolved


def late_banner(org, *, now: datetime) -> dict | None:
    """For the pages: None, or {"last_beat_at": ...} when the org's schedules are late and no
    scheduler beats. One query: the org's oldest overdue schedule, with the newest heartbeat."""
    newest_beat = SchedulerHeartbeat.objects.order_by("-last_beat_at").values("last_beat_at")[:1]
    row = (
        overdue_schedules(now)
        .filter(org=org)
        .order_by("next_run_at")
        .annotate(last_beat=Subquery(newest_beat))
        .values_list("last_beat", flat=True)[:1]
    )
    found = list(row)
    if not found:
        return None
    last = found[0]
    if last is not None and last >= now - _stall():
        return None  # a scheduler beats: it is behind, not stalled (the health check says degraded)
    return {"last_beat_at": last, "minutes": max(1, round((now - last).total_seconds() / 60)) if last else None}

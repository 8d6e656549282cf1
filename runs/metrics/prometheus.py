"""`/metrics`: a prometheus-client collector that reads the database on every scrape.

No in-process counters: the web processes and every scheduler replica would each count their
own share, and a scrape would see whichever process answered. The database has the one truth.
Labels stay bounded: the org slug at most (never a schedule or run id); the per-replica
heartbeat gauge only lists replicas seen in the last hour, since a replica id names a process
and every restart makes a new one.

Other parts of the project add families with `register_family` (the alerts code adds its
open alerts there) instead of editing this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from runs.metrics.scan import TIMED_STATUSES
from runs.models import TERMINAL_STATUSES, RunStatus, SchedulerHeartbeat, ScheduleRun
from schedules.models import Schedule

PREFIX = "agent_schedules"
# Upper bounds of the run-duration histogram, in seconds: agent runs take seconds to an hour.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
REPLICA_HORIZON = timedelta(hours=1)

FamilyBuilder = Callable[[datetime], Iterable[Metric]]
_extra_families: list[FamilyBuilder] = []


def register_family(builder: FamilyBuilder) -> FamilyBuilder:
    """Add `builder(now) -> metric families` to every scrape (usable as a decorator). The
    alerts code registers its open-alerts gauge here, from its AppConfig.ready()."""
    if builder not in _extra_families:
        _extra_families.append(builder)
    return builder


class DatabaseCollector:
    """A prometheus-client custom collector; `now` is the scrape's time, read once by the view."""

    def __init__(self, now: datetime):
        self.now = now

    def collect(self) -> Iterable[Metric]:
        yield from runs_families()
        yield from schedule_families(self.now)
        yield from scheduler_families(self.now)
        for builder in _extra_families:
            yield from builder(self.now)


def exposition(*, now: datetime) -> bytes:
    """The text exposition format, rendered by prometheus-client from a fresh registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(now))
    return generate_latest(registry)


def runs_families() -> Iterable[Metric]:
    """Finished runs by org, status and trigger, and the duration histogram, in one pass."""
    totals = CounterMetricFamily(
        f"{PREFIX}_runs", "Runs that reached a final status.", labels=["org", "status", "trigger"]
    )
    duration = HistogramMetricFamily(
        f"{PREFIX}_run_duration_seconds",
        "Time from start to finish of succeeded, failed and timed-out runs.",
        labels=["org"],
    )
    timed = Q(status__in=TIMED_STATUSES, started_at__isnull=False, finished_at__isnull=False)
    elapsed = F("finished_at") - F("started_at")
    buckets = {
        f"le_{i}": Count("pk", filter=timed & Q(finished_at__lte=F("started_at") + timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS)
    }
    rows = (
        ScheduleRun.objects.filter(status__in=TERMINAL_STATUSES)
        .values("org__slug", "status", "trigger_type")
        .annotate(n=Count("pk"), timed=Count("pk", filter=timed), seconds=Sum(elapsed, filter=timed), **buckets)
        .order_by()
    )
    per_org: dict[str, list] = defaultdict(lambda: [0.0, 0, [0] * len(DURATION_BUCKETS)])
    for row in rows:
        org = row["org__slug"]
        totals.add_metric([org, row["status"], row["trigger_type"]], row["n"])
        acc = per_org[org]
        acc[0] += row["seconds"].total_seconds() if row["seconds"] else 0.0
        acc[1] += row["timed"]
        for i in range(len(DURATION_BUCKETS)):
            acc[2][i] += row[f"le_{i}"]
    for org, (seconds, count, counts) in sorted(per_org.items()):
        points = [(_le(bound), n) for bound, n in zip(DURATION_BUCKETS, counts)] + [("+Inf", count)]
        duration.add_metric([org], points, sum_value=seconds)
    yield totals
    yield duration


def _le(bound: float) -> str:
    return f"{float(bound)}"


def schedule_families(now: datetime) -> Iterable[Metric]:
    states = GaugeMetricFamily(
        f"{PREFIX}_schedules",
        "Schedules by state: enabled (has a next run), disabled, finished (enabled, nothing left to run).",
        labels=["org", "state"],
    )
    # Annotation names must not be field names: `enabled=Count(...)` would shadow the column.
    rows = Schedule.objects.values("org__slug").annotate(
        n_enabled=Count("pk", filter=Q(enabled=True, next_run_at__isnull=False)),
        n_disabled=Count("pk", filter=Q(enabled=False)),
        n_finished=Count("pk", filter=Q(enabled=True, next_run_at__isnull=True)),
    ).order_by()
    for row in rows:
        for state in ("enabled", "disabled", "finished"):
            states.add_metric([row["org__slug"], state], row[f"n_{state}"])
    yield states

    active = {
        status: GaugeMetricFamily(f"{PREFIX}_runs_{status}", help_text, labels=["org"])
        for status, help_text in (
            (RunStatus.QUEUED, "Runs waiting to be sent to the execution plane (retries waiting included)."),
            (RunStatus.RUNNING, "Runs the execution plane is running."),
        )
    }
    for row in (
        ScheduleRun.objects.filter(status__in=list(active)).values("org__slug", "status").annotate(n=Count("pk")).order_by()
    ):
        active[row["status"]].add_metric([row["org__slug"]], row["n"])
    yield from active.values()

    oldest = Schedule.objects.filter(enabled=True, next_run_at__lte=now).aggregate(oldest=Min("next_run_at"))["oldest"]
    lag = GaugeMetricFamily(
        f"{PREFIX}_oldest_due_lag_seconds",
        "How long the most overdue enabled schedule has been due; 0 when none is.",
        value=(now - oldest).total_seconds() if oldest else 0.0,
    )
    yield lag


def scheduler_families(now: datetime) -> Iterable[Metric]:
    beats = list(
        SchedulerHeartbeat.objects.filter(last_beat_at__gte=now - REPLICA_HORIZON).values_list(
            "replica_id", "last_beat_at"
        )
    )
    per_replica = GaugeMetricFamily(
        f"{PREFIX}_scheduler_heartbeat_age_seconds",
        "Seconds since each scheduler replica's last heartbeat (replicas seen in the last hour).",
        labels=["replica"],
    )
    for replica, beat in sorted(beats):
        per_replica.add_metric([replica], max(0.0, (now - beat).total_seconds()))
    yield per_replica
    latest = SchedulerHeartbeat.objects.order_by("-last_beat_at").values_list("last_beat_at", flat=True).first()
    yield GaugeMetricFamily(
        f"{PREFIX}_scheduler_last_heartbeat_age_seconds",
        "Seconds since any scheduler replica last beat; +Inf when none ever has. Alert when it passes "
        "SCHEDULER_STALL_SECONDS.",
        value=max(0.0, (now - latest).total_seconds()) if latest else float("inf"),
    )

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

from django.db.models import Count, Min, Q
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from runs.alerts.stall import replica_states
from runs.metrics import tally
from runs.models import RunStatus, SchedulerHeartbeat, ScheduleRun
from schedules.models import Organization, Schedule

PREFIX = "agent_schedules"
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
        yield from runs_families(self.now)
        yield from schedule_families(self.now)
        yield from scheduler_families(self.now)
        for builder in _extra_families:
            yield from builder(self.now)


def exposition(*, now: datetime) -> bytes:
    """The text exposition format, rendered by prometheus-client from a fresh registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(now))
    return generate_latest(registry)


def runs_families(now: datetime) -> Iterable[Metric]:
    """Finished runs by org, status and trigger, and the duration histogram per org, from the
    running totals (`runs.metrics.tally`): a scrape does not count the whole history."""
    totals = CounterMetricFamily(
        f"{PREFIX}_runs", "Runs that reached a final status.", labels=["org", "status", "trigger"]
    )
    duration = HistogramMetricFamily(
        f"{PREFIX}_run_duration_seconds",
        "Time from start to finish of succeeded, failed and timed-out runs.",
        labels=["org"],
    )
    tallies = tally.run_totals(now=now)
    slugs = dict(Organization.objects.filter(pk__in={org_id for org_id, _, _ in tallies}).values_list("pk", "slug"))
    per_org: dict[str, tally.Tally] = defaultdict(tally.Tally)
    for (org_id, status, trigger), counted in sorted(tallies.items()):
        slug = slugs.get(org_id)
        if slug is None:  # the org was deleted since
            continue
        totals.add_metric([slug, status, trigger], counted.runs)
        per_org[slug].add(counted)
    for slug, counted in sorted(per_org.items()):
        points = [(f"{float(bound)}", n) for bound, n in zip(tally.DURATION_BUCKETS, counted.buckets)]
        duration.add_metric([slug], points + [("+Inf", counted.timed)], sum_value=counted.seconds)
    yield totals
    yield duration


def schedule_families(now: datetime) -> Iterable[Metric]:
    states = GaugeMetricFamily(
        f"{PREFIX}_schedules",
        "Schedules by state: enabled (has a next run), disabled, finished (enabled, nothing left to run).",
        labels=["org", "state"],
    )
    # Annotation names must not be field names: `enabled=Count(...)` would shadow the column.
    # Grouped by org id, not slug: no join, and the (org, enabled, next_run_at) index holds
    # every column read (an index-only scan of 100,000 schedules).
    rows = Schedule.objects.values("org_id").annotate(
        n_enabled=Count("pk", filter=Q(enabled=True, next_run_at__isnull=False)),
        n_disabled=Count("pk", filter=Q(enabled=False)),
        n_finished=Count("pk", filter=Q(enabled=True, next_run_at__isnull=True)),
    ).order_by()
    rows = list(rows)
    slugs = dict(Organization.objects.filter(pk__in=[row["org_id"] for row in rows]).values_list("pk", "slug"))
    for row in rows:
        for state in ("enabled", "disabled", "finished"):
            states.add_metric([slugs[row["org_id"]], state], row[f"n_{state}"])
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
    # A replica that stopped cleanly retired its row: it is no longer listed (its age would
    # grow as if it had stalled).
    beats = list(
        SchedulerHeartbeat.objects.filter(last_beat_at__gte=now - REPLICA_HORIZON, stopped_at__isnull=True).values_list(
            "replica_id", "last_beat_at"
        )
    )
    per_replica = GaugeMetricFamily(
        f"{PREFIX}_scheduler_heartbeat_age_seconds",
        "Seconds since each running scheduler replica's last heartbeat (replicas seen in the last hour; "
        "one that stopped cleanly is not listed).",
        labels=["replica"],
    )
    for replica, beat in sorted(beats):
        per_replica.add_metric([replica], max(0.0, (now - beat).total_seconds()))
    yield per_replica
    replicas = replica_states(now=now)
    counts = GaugeMetricFamily(
        f"{PREFIX}_scheduler_replicas",
        "Scheduler replicas by state, as check_scheduler_health counts them: fresh (beat within "
        "SCHEDULER_STALL_SECONDS), stale (went silent without stopping cleanly). Stopped ones are not counted.",
        labels=["state"],
    )
    counts.add_metric(["fresh"], len(replicas.fresh))
    counts.add_metric(["stale"], len(replicas.stale))
    yield counts
    latest = SchedulerHeartbeat.objects.order_by("-last_beat_at").values_list("last_beat_at", flat=True).first()
    yield GaugeMetricFamily(
        f"{PREFIX}_scheduler_last_heartbeat_age_seconds",
        "Seconds since any scheduler replica last beat; +Inf when none ever has. Alert when it passes "
        "SCHEDULER_STALL_SECONDS.",
        value=max(0.0, (now - latest).total_seconds()) if latest else float("inf"),
    )

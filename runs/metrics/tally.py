"""Running totals of finished runs for `/metrics`, without counting the whole history per scrape.

The totals at hour boundary B (runs with `finished_at < B`) are stored as `RunTally` rows. A
scrape reads the newest stored boundary, adds the runs finished since (a range of the partial
index `run_finished`), and, once a new hour has settled, stores the totals at that hour:
the previous totals plus the hour's runs. The first scrape ever counts the history once.

An hour is settled SETTLE after it ends: a run's `finished_at` is the time its end was
written (`now` of the writer), so a write arriving later than that would be missed by the
stored totals; SETTLE is far longer than a result write waits. Two processes storing the same
boundary store the same numbers (the second insert is ignored).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from django.db.models import Count, F, Max, Q, QuerySet, Sum

from runs.metrics.scan import TIMED_STATUSES
from runs.models import TERMINAL_STATUSES, RunTally, ScheduleRun

# Upper bounds of the run-duration histogram, in seconds: agent runs take seconds to an hour.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
SETTLE = timedelta(minutes=10)
# Older boundaries are deleted when a new one is stored; one spare covers a slow reader.
KEEP_BOUNDARIES = 2

Key = tuple[int, str, str]  # org id, status, trigger


@dataclass
class Tally:
    runs: int = 0
    timed: int = 0
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))

    def add(self, other: "Tally") -> None:
        self.runs += other.runs
        self.timed += other.timed
        self.seconds += other.seconds
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]


def _aggregate(finished: QuerySet[ScheduleRun]) -> dict[Key, Tally]:
    """Totals per (org, status, trigger) of these finished runs, in one grouped query."""
    timed = Q(status__in=TIMED_STATUSES, started_at__isnull=False, finished_at__isnull=False)
    buckets = {
        f"le_{i}": Count("pk", filter=timed & Q(finished_at__lte=F("started_at") + timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS)
    }
    rows = (
        finished.filter(status__in=TERMINAL_STATUSES)
        .values("org_id", "status", "trigger_type")
        .annotate(
            n=Count("pk"),
            n_timed=Count("pk", filter=timed),
            elapsed=Sum(F("finished_at") - F("started_at"), filter=timed),
            **buckets,
        )
        .order_by()
    )
    return {
        (row["org_id"], row["status"], row["trigger_type"]): Tally(
            runs=row["n"],
            timed=row["n_timed"],
            seconds=row["elapsed"].total_seconds() if row["elapsed"] else 0.0,
            buckets=[row[f"le_{i}"] for i in range(len(DURATION_BUCKETS))],
        )
        for row in rows
    }


def _stored(through: datetime) -> dict[Key, Tally]:
    return {
        (t.org_id, t.status, t.trigger_type): Tally(runs=t.runs, timed=t.timed, seconds=t.seconds, buckets=list(t.buckets))
        for t in RunTally.objects.filter(through=through)
    }


def _store(through: datetime, totals: dict[Key, Tally]) -> None:
    RunTally.objects.bulk_create(
        [
            RunTally(
                through=through, org_id=org_id, status=status, trigger_type=trigger,
                runs=t.runs, timed=t.timed, seconds=t.seconds, buckets=t.buckets,
            )
            for (org_id, status, trigger), t in totals.items()
        ],
        ignore_conflicts=True,
    )
    keep = list(RunTally.objects.filter(through__lte=through).values_list("through", flat=True).distinct()
                .order_by("-through")[:KEEP_BOUNDARIES])
    if keep:
        RunTally.objects.filter(through__lt=min(keep)).delete()


def settled_boundary(now: datetime) -> datetime:
    return (now - SETTLE).astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def run_totals(*, now: datetime) -> dict[Key, Tally]:
    """Every finished run's totals per (org id, status, trigger), as of `now`."""
    boundary = settled_boundary(now)
    finished = ScheduleRun.objects.filter(finished_at__isnull=False)
    latest = RunTally.objects.filter(through__lte=boundary).aggregate(latest=Max("through"))["latest"]
    if latest == boundary:
        totals = _stored(boundary)
    else:
        if latest is None:  # the first scrape: count the history once
            totals = _aggregate(finished.filter(finished_at__lt=boundary))
        else:
            totals = _stored(latest)
            for key, delta in _aggregate(finished.filter(finished_at__gte=latest, finished_at__lt=boundary)).items():
                totals.setdefault(key, Tally()).add(delta)
        # An empty history stores nothing, and the next scrape counts it again: cheap, it is empty.
        _store(boundary, totals)
    merged: dict[Key, Tally] = defaultdict(Tally)
    for key, tally in totals.items():
        merged[key].add(tally)
    for key, delta in _aggregate(finished.filter(finished_at__gte=boundary)).items():
        merged[key].add(delta)
    return dict(merged)

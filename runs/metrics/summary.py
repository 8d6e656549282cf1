"""The runs summary over a window: `GET /api/v1/metrics/summary/` and the pages' 24-hour chart.

One selector for both, over runs *created* in the window (a run counts in the hour it was
triggered, so a slow run does not move between hours as it finishes). Counting is plain ORM
and runs on both databases; the percentiles are PostgreSQL's `percentile_cont` on PostgreSQL
(a 100,000-row window must not travel to Python) and the same interpolation in Python on
SQLite, the embedded default.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from django.db import connection
from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncHour

from config.errors import InvalidInput
from runs.models import FAILURE_STATUSES, RunStatus, ScheduleRun, TriggerType
from schedules import permissions
from schedules.models import Schedule
from schedules.permissions import READ

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "24h"
TOP_FAILING = 5
# Runs whose duration means something: they started and reached an outcome of their own.
TIMED_STATUSES = (RunStatus.SUCCESS, *FAILURE_STATUSES)


def parse_window(value: str | None) -> str:
    """The window name, `24h` when blank; InvalidInput naming the allowed values otherwise."""
    if not value:
        return DEFAULT_WINDOW
    if value not in WINDOWS:
        raise InvalidInput("window", f"unknown window '{value}'; use one of: {', '.join(WINDOWS)}")
    return value


def summary_runs_for(user, *, schedule_id=None, agent: str | None = None, org: str | None = None):
    """The runs the summary covers: those the user may read, narrowed to one schedule (another
    org's schedule is NotVisible, as everywhere), one agent slug or one org slug."""
    if schedule_id:
        schedule = permissions.get_schedule_for(user, schedule_id, READ, queryset=Schedule.objects.all())
        runs = ScheduleRun.objects.filter(schedule=schedule)
    else:
        runs = permissions.restrict(ScheduleRun.objects.all(), user, READ, schedule_field="schedule_id")
    if agent:
        runs = runs.filter(agent_slug=agent)
    if org:
        runs = runs.filter(org__slug=org)
    return runs


@dataclass
class HourBucket:
    start: datetime
    succeeded: int = 0
    failed: int = 0
    p95_seconds: float | None = None


@dataclass
class FailingSchedule:
    schedule_id: object
    name: str
    failures: int
    last_failed_at: datetime


@dataclass
class Summary:
    window: str
    since: datetime
    until: datetime
    total: int = 0
    triggers: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    success_rate: float | None = None
    failure_rate: float | None = None
    duration_p50_seconds: float | None = None
    duration_p95_seconds: float | None = None
    hours: list[HourBucket] = field(default_factory=list)
    failing_schedules: list[FailingSchedule] = field(default_factory=list)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def runs_summary(*, runs: QuerySet[ScheduleRun], window: str, now: datetime) -> Summary:
    """Summarise `runs` (already narrowed to what the viewer may read) created in the `window`
    before `now`. Rates are over runs with an outcome (succeeded, failed, timed out): skipped
    and canceled runs ran nothing, and queued ones have no outcome yet."""
    since = now - WINDOWS[parse_window(window)]
    in_window = runs.filter(created_at__gte=since, created_at__lt=now)
    summary = Summary(window=window, since=since, until=now)
    summary.triggers = {value: 0 for value in TriggerType.values}
    summary.statuses = {value: 0 for value in RunStatus.values}
    hours = _empty_hours(since, now)

    rows = in_window.values_list(TruncHour("created_at", tzinfo=timezone.utc), "status", "trigger_type").annotate(
        n=Count("pk")
    ).order_by()
    for hour, status, trigger, n in rows:
        summary.total += n
        summary.triggers[trigger] = summary.triggers.get(trigger, 0) + n
        summary.statuses[status] = summary.statuses.get(status, 0) + n
        bucket = hours.get(floor_hour(hour))
        if bucket is None:
            continue
        if status == RunStatus.SUCCESS:
            bucket.succeeded += n
        elif status in FAILURE_STATUSES:
            bucket.failed += n

    succeeded = summary.statuses[RunStatus.SUCCESS]
    failed = sum(summary.statuses[s] for s in FAILURE_STATUSES)
    if succeeded + failed:
        summary.success_rate = succeeded / (succeeded + failed)
        summary.failure_rate = failed / (succeeded + failed)

    overall, by_hour = _duration_percentiles(in_window.filter(status__in=TIMED_STATUSES))
    summary.duration_p50_seconds, summary.duration_p95_seconds = overall
    for hour, p95 in by_hour.items():
        if floor_hour(hour) in hours:
            hours[floor_hour(hour)].p95_seconds = p95
    summary.hours = list(hours.values())
    summary.failing_schedules = _failing_most(in_window)
    return summary


def _empty_hours(since: datetime, now: datetime) -> dict[datetime, HourBucket]:
    """One bucket per UTC hour touching [since, now): 24 for an aligned 24h window, 25 when
    the first and last hours are partial."""
    hours = {}
    start = floor_hour(since)
    while start < now:
        hours[start] = HourBucket(start=start)
        start += timedelta(hours=1)
    return hours


def _failing_most(in_window: QuerySet[ScheduleRun]) -> list[FailingSchedule]:
    rows = (
        in_window.filter(status__in=FAILURE_STATUSES)
        .values("schedule_id", "schedule__name")
        .annotate(failures=Count("pk"), last_failed_at=Max("created_at"))
        .order_by("-failures", "-last_failed_at", "schedule_id")[:TOP_FAILING]
    )
    return [
        FailingSchedule(
            schedule_id=row["schedule_id"],
            name=row["schedule__name"],
            failures=row["failures"],
            last_failed_at=row["last_failed_at"],
        )
        for row in rows
    ]


def _duration_percentiles(timed: QuerySet[ScheduleRun]):
    """((p50, p95) over all, {hour: p95}) of finished_at - started_at, in seconds."""
    timed = timed.filter(started_at__isnull=False, finished_at__isnull=False)
    if connection.vendor == "postgresql":
        return _percentiles_sql(timed)
    return _percentiles_python(timed)


def _percentiles_sql(timed: QuerySet[ScheduleRun]):
    inner, params = timed.values("created_at", "started_at", "finished_at").query.sql_with_params()
    # ROLLUP: the per-hour groups and the grand total (hour NULL) in one pass over the rows.
    sql = f"""
        SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AS hour,
               percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM r.finished_at - r.started_at))
        FROM ({inner}) AS r
        GROUP BY ROLLUP (1)
    """
    overall: tuple[float | None, float | None] = (None, None)
    by_hour = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for hour, cuts in cursor.fetchall():
            if cuts is None:  # ROLLUP's grand total over no rows at all
                continue
            p50, p95 = cuts
            if hour is None:
                overall = (float(p50), float(p95))
            else:
                by_hour[hour.replace(tzinfo=timezone.utc)] = float(p95)
    return overall, by_hour


def _percentiles_python(timed: QuerySet[ScheduleRun]):
    per_hour = defaultdict(list)
    everything = []
    for created_at, started_at, finished_at in timed.values_list("created_at", "started_at", "finished_at"):
        seconds = (finished_at - started_at).total_seconds()
        per_hour[floor_hour(created_at)].append(seconds)
        everything.append(seconds)
    if not everything:
        return (None, None), {}
    overall = (percentile_cont(everything, 0.5), percentile_cont(everything, 0.95))
    return overall, {hour: percentile_cont(values, 0.95) for hour, values in per_hour.items()}


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's `percentile_cont`: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))

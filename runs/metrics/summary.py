"""The runs summary over a window: `GET /api/v1/metrics/summary/` and the pages' 24-hour chart.

One selector for both, over runs *created* in the window (a run counts in the hour it was
triggered, so a slow run does not move between hours as it finishes). The database work is
one pass over the window (`runs.metrics.scan`); this module turns it into the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from config.errors import InvalidInput
from runs.metrics.scan import scan_window
from runs.models import FAILURE_STATUSES, RunStatus, ScheduleRun, TriggerType
from schedules import permissions
from schedules.models import Schedule
from schedules.permissions import READ
from schedules.selectors import get_schedule_for

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "24h"
TOP_FAILING = 5


def parse_window(value: str | None) -> str:
    """The window name, `24h` when blank; InvalidInput naming the allowed values otherwise."""
    if not value:
        return DEFAULT_WINDOW
    if value not in WINDOWS:
        raise InvalidInput(
            "window",
            _("unknown window '%(window)s'; use one of: %(windows)s") % {"window": value, "windows": ", ".join(WINDOWS)},
        )
    return value


def summary_runs_for(user, *, schedule_id=None, agent: str | None = None, org: str | None = None):
    """The runs the summary covers: those the user may read, narrowed to one schedule (another
    org's schedule is NotVisible, as everywhere), one agent slug or one org slug."""
    if schedule_id:
        schedule = get_schedule_for(user, schedule_id, READ, queryset=Schedule.objects.all())
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
    usage: dict = field(default_factory=dict)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def runs_summary(*, runs: QuerySet[ScheduleRun], window: str, now: datetime) -> Summary:
    """Summarise `runs` (already narrowed to what the viewer may read) created in the `window`
    before `now`. Rates are over runs with an outcome (succeeded, failed, timed out): skipped
    and canceled runs ran nothing, and queued ones have no outcome yet."""
    since = now - WINDOWS[parse_window(window)]
    scan = scan_window(runs.filter(created_at__gte=since, created_at__lt=now), top=TOP_FAILING)
    summary = Summary(window=window, since=since, until=now)
    summary.triggers = {value: 0 for value in TriggerType.values}
    summary.statuses = {value: 0 for value in RunStatus.values}
    hours = _empty_hours(since, now)
    for hour, status, trigger, n in scan.counts:
        summary.total += n
        summary.triggers[trigger] = summary.triggers.get(trigger, 0) + n
        summary.statuses[status] = summary.statuses.get(status, 0) + n
        bucket = hours.get(hour)
        if bucket is not None and status == RunStatus.SUCCESS:
            bucket.succeeded += n
        elif bucket is not None and status in FAILURE_STATUSES:
            bucket.failed += n
    for hour, p95 in scan.p95_by_hour.items():
        if hour in hours:
            hours[hour].p95_seconds = p95
    summary.hours = list(hours.values())

    succeeded = summary.statuses[RunStatus.SUCCESS]
    failed = sum(summary.statuses[s] for s in FAILURE_STATUSES)
    if succeeded + failed:
        summary.success_rate = succeeded / (succeeded + failed)
        summary.failure_rate = failed / (succeeded + failed)
    summary.duration_p50_seconds, summary.duration_p95_seconds = scan.p50, scan.p95
    input_tokens, output_tokens, total_tokens, cost = scan.usage
    summary.usage = {
        "input_tokens": int(input_tokens), "output_tokens": int(output_tokens), "total_tokens": int(total_tokens),
        "cost_usd": round(cost, 6),
    }

    names = dict(Schedule.objects.filter(pk__in=[pk for pk, _, _ in scan.failures]).values_list("pk", "name"))
    summary.failing_schedules = [
        FailingSchedule(schedule_id=pk, name=names.get(pk, ""), failures=n, last_failed_at=last)
        for pk, n, last in scan.failures
    ]
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

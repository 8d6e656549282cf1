"""The one pass over a window's runs behind the summary, in two dialects.

PostgreSQL: one statement. The window's rows are read once (an index-only scan of
`run_org_created`, which carries the columns the summary needs) into a materialized CTE that
three aggregates share: counts per (hour, status, trigger), `percentile_cont` per hour with a
grand total (ROLLUP), failures per schedule. Three statements read the index three times,
which was most of the cost at 100,000 runs (docs/operations.md, "Metrics").

`date_part`, not `EXTRACT`: since PostgreSQL 14 EXTRACT answers `numeric`, whose arithmetic
and sort cost several times a float's over 100,000 rows.

SQLite (the embedded default, small data): the same figures through the ORM, the
percentiles interpolated in Python as `percentile_cont` does. The tests run on both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncHour

from runs.models import FAILURE_STATUSES, RunStatus, ScheduleRun

# Runs whose duration means something: they started and reached an outcome of their own.
TIMED_STATUSES = (RunStatus.SUCCESS, *FAILURE_STATUSES)
USAGE_COLUMNS = ("input_tokens", "output_tokens", "total_tokens", "cost_usd")
# The percentile sort of 100,000 durations needs ~4 MB; PostgreSQL's default work_mem
# (4 MB) sends it to disk. Raised for this one transaction only.
WORK_MEM = "32MB"


@dataclass
class Scan:
    counts: list[tuple[datetime, str, str, int]] = field(default_factory=list)  # hour, status, trigger, n
    p50: float | None = None
    p95: float | None = None
    p95_by_hour: dict[datetime, float] = field(default_factory=dict)
    failures: list[tuple[object, int, datetime]] = field(default_factory=list)  # schedule id, n, last
    # Summed usage of the window's runs: input, output and total tokens, cost in US dollars.
    usage: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def scan_window(in_window: QuerySet[ScheduleRun], *, top: int) -> Scan:
    if connection.vendor == "postgresql":
        return _scan_postgresql(in_window, top=top)
    return _scan_portable(in_window, top=top)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


_SQL = """
    WITH r AS MATERIALIZED (
        SELECT date_trunc('hour', q.created_at AT TIME ZONE 'UTC') AS hour, q.status, q.trigger_type,
               q.schedule_id, q.created_at, q.input_tokens, q.output_tokens, q.total_tokens, q.cost_usd,
               CASE WHEN q.status = ANY(%(timed)s) AND q.started_at IS NOT NULL AND q.finished_at IS NOT NULL
                    THEN date_part('epoch', q.finished_at - q.started_at) END AS seconds
        FROM ({inner}) AS q
    )
    SELECT 'count', hour, status, trigger_type, NULL::uuid, count(*), NULL::float8[], NULL::timestamptz
    FROM r GROUP BY hour, status, trigger_type
    UNION ALL
    SELECT 'duration', hour, NULL, NULL, NULL, count(*),
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY seconds), NULL
    FROM r WHERE seconds IS NOT NULL GROUP BY ROLLUP (hour)
    UNION ALL
    (SELECT 'failing', NULL, NULL, NULL, schedule_id, count(*), NULL, max(created_at)
     FROM r WHERE status = ANY(%(failed)s) GROUP BY schedule_id
     ORDER BY count(*) DESC, max(created_at) DESC, schedule_id LIMIT %(top)s)
    UNION ALL
    SELECT 'usage', NULL, NULL, NULL, NULL, count(total_tokens),
           ARRAY[coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(total_tokens), 0),
                 coalesce(sum(cost_usd), 0)]::float8[], NULL
    FROM r
"""


def _scan_postgresql(in_window: QuerySet[ScheduleRun], *, top: int) -> Scan:
    inner_qs = in_window.values(
        "created_at", "status", "trigger_type", "schedule_id", "started_at", "finished_at",
        "input_tokens", "output_tokens", "total_tokens", "cost_usd",
    )
    # order_by(): the model's default ordering would sort the window for nothing.
    inner, inner_params = inner_qs.order_by().query.sql_with_params()
    # The inner query's own placeholders are positional (%s); ours are named, so name theirs.
    names = {f"p{i}": value for i, value in enumerate(inner_params)}
    inner = inner.replace("%%", "%%%%") % tuple(f"%({name})s" for name in names)
    params = {**names, "timed": [str(s) for s in TIMED_STATUSES], "failed": [str(s) for s in FAILURE_STATUSES], "top": top}
    scan = Scan()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(_SQL.format(inner=inner), params)
        rows = cursor.fetchall()
    for kind, hour, status, trigger, schedule_id, n, cuts, last in rows:
        if kind == "count":
            scan.counts.append((_utc(hour), status, trigger, n))
        elif kind == "duration" and cuts is not None:
            if hour is None:
                scan.p50, scan.p95 = float(cuts[0]), float(cuts[1])
            else:
                scan.p95_by_hour[_utc(hour)] = float(cuts[1])
        elif kind == "failing":
            scan.failures.append((schedule_id, n, last))
        elif kind == "usage":
            scan.usage = tuple(float(v) for v in cuts)
    return scan


def _scan_portable(in_window: QuerySet[ScheduleRun], *, top: int) -> Scan:
    scan = Scan()
    hour = TruncHour("created_at", tzinfo=timezone.utc)
    rows = in_window.values_list(hour, "status", "trigger_type").annotate(n=Count("pk")).order_by()
    scan.counts = [(_utc(h), status, trigger, n) for h, status, trigger, n in rows]

    per_hour, everything = defaultdict(list), []
    timed = in_window.filter(status__in=TIMED_STATUSES, started_at__isnull=False, finished_at__isnull=False)
    for created_at, started_at, finished_at in timed.values_list("created_at", "started_at", "finished_at"):
        seconds = (finished_at - started_at).total_seconds()
        per_hour[_utc(created_at).replace(minute=0, second=0, microsecond=0)].append(seconds)
        everything.append(seconds)
    if everything:
        scan.p50, scan.p95 = percentile_cont(everything, 0.5), percentile_cont(everything, 0.95)
        scan.p95_by_hour = {h: percentile_cont(values, 0.95) for h, values in per_hour.items()}

    failing = (
        in_window.filter(status__in=FAILURE_STATUSES)
        .values_list("schedule_id")
        .annotate(n=Count("pk"), last=Max("created_at"))
        .order_by("-n", "-last", "schedule_id")[:top]
    )
    scan.failures = list(failing)
    sums = in_window.aggregate(*(Sum(name) for name in USAGE_COLUMNS))
    scan.usage = tuple(float(sums[f"{name}__sum"] or 0) for name in USAGE_COLUMNS)
    return scan


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's `percentile_cont`: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))

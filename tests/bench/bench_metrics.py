"""Benchmark: the metrics endpoints (targets in docs/design.md and docs/operations.md, "Metrics").

Run by `make bench` (scripts/bench.sh) as a script on a throwaway PostgreSQL:

    python tests/bench/bench_metrics.py

- `GET /api/v1/metrics/summary/?window=24h` for an org with 100,000 runs in the window and
  1,000,000 older ones (another org has runs too, so the org filter must use its index):
  p99 <= 150 ms server-side, beside its own SQL run raw; the plans are printed.
- `/metrics` at 100,000 schedules (and the same 1.1M runs): p99 <= 100 ms; and the one
  scrape that counts the history before any running total is stored (runs/metrics/tally.py).

Server time is measured around Django's whole handler in-process, as bench_api.py does.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common  # noqa: E402
from tests.bench.common import UTC, figure, percentile, section  # noqa: E402

IN_WINDOW = int(os.environ.get("BENCH_METRICS_IN_WINDOW", "100000"))
OLDER = int(os.environ.get("BENCH_METRICS_OLDER", "1000000"))
N_SCHEDULES = int(os.environ.get("BENCH_METRICS_SCHEDULES", "100000"))
RUN_SCHEDULES = 1000  # the schedules the runs belong to (the rest never ran)
REQUESTS = int(os.environ.get("BENCH_METRICS_REQUESTS", "100"))
WARMUP = 10
TOKEN = "bench-metrics-token"

os.environ.setdefault("DB_CONN_MAX_AGE", "600")  # as a web process keeps its connection
os.environ.setdefault("METRICS_TOKEN", TOKEN)

# Runs of the first RUN_SCHEDULES schedules of an org, `n` of them created evenly over
# [newest - span, newest): 90% succeed, 7% fail, 2% time out, 1% are skipped; 5% are manual,
# 3% retries; durations 1..300 s.
RUNS_SQL = """
    WITH s AS (
        SELECT id, org_id, prompt, (row_number() OVER (ORDER BY id)) - 1 AS i
        FROM agent_schedules WHERE org_id = %(org)s ORDER BY id LIMIT %(k)s
    ), g AS (
        SELECT g, %(newest)s - make_interval(secs => g * %(step)s) AS at,
               CASE WHEN g %% 100 < 90 THEN 'success' WHEN g %% 100 < 97 THEN 'failed'
                    WHEN g %% 100 < 99 THEN 'timeout' ELSE 'skipped' END AS status
        FROM generate_series(1, %(n)s) AS g
    )
    INSERT INTO schedule_runs (
        id, job_run_id, occurrence_key, schedule_id, org_id, trigger_type, attempt, scheduled_for, status,
        not_before, queued_at, started_at, finished_at, session_id, message_id, outputs, error_code,
        error_message, missed_count, agent_slug, prompt, output_type, params, lease_owner, created_at, answer)
    SELECT gen_random_uuid(), %(tag)s || '-' || g.g, %(tag)s || '-' || g.g, s.id, s.org_id,
        CASE WHEN g.g %% 20 = 0 THEN 'manual' WHEN g.g %% 33 = 1 THEN 'retry' ELSE 'scheduled' END,
        1, g.at, g.status, NULL, g.at,
        CASE WHEN g.status = 'skipped' THEN NULL ELSE g.at + interval '1 second' END,
        g.at + make_interval(secs => 1 + g.g %% 300), '', '', '[]'::jsonb, '', '', 0, 'echo', s.prompt,
        'markdown', '{}'::jsonb, '', g.at, ''
    FROM g JOIN s ON s.i = g.g %% %(k)s
"""


def _insert_runs(org, *, n, newest, span, tag):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            RUNS_SQL,
            {"org": org.pk, "k": RUN_SCHEDULES, "n": n, "newest": newest, "step": span.total_seconds() / n, "tag": tag},
        )


def _population(now):
    """The bench org: N_SCHEDULES schedules, IN_WINDOW runs in the last 24 h and OLDER runs in
    the 90 days before; another org with as many schedules and a tenth of the runs."""
    from django.db import connection

    org, user, key = common.admin_with_two_orgs("bench-metrics", N_SCHEDULES // 2)
    from schedules.models import Organization

    other = Organization.objects.get(slug="bench-metrics-other")
    started = time.perf_counter()
    _insert_runs(org, n=IN_WINDOW, newest=now, span=timedelta(hours=23, minutes=59), tag="w")
    _insert_runs(org, n=OLDER, newest=now - timedelta(days=1), span=timedelta(days=90), tag="o")
    _insert_runs(other, n=IN_WINDOW // 10, newest=now, span=timedelta(hours=23), tag="x")
    from runs.models import SchedulerHeartbeat

    for i in range(3):
        SchedulerHeartbeat.objects.create(
            replica_id=f"bench-{i}", started_at=now, last_beat_at=now - timedelta(seconds=i)
        )
    with connection.cursor() as cursor:
        # What autovacuum does on a live database; without it no plan can be index-only.
        cursor.execute("VACUUM ANALYZE schedule_runs")
        cursor.execute("VACUUM ANALYZE agent_schedules")
    print(f"  (population written in {time.perf_counter() - started:.0f} s)", flush=True)
    return org, key


WINDOW_COUNT_SQL = "SELECT count(*) FROM schedule_runs WHERE org_id = %s AND created_at >= %s AND created_at < %s"


def _interleaved(client, requests, n):
    """Server time per request name; the requests take turns so machine noise hits them alike.
    A `None` client is the baseline: reading the window's rows from the index, nothing else."""
    from django.db import connection

    times = {name: [] for name in requests}
    bodies = {}
    for i in range(WARMUP + n):
        for name, (url, headers) in requests.items():
            started = time.perf_counter()
            if url is None:
                with connection.cursor() as cursor:
                    cursor.execute(WINDOW_COUNT_SQL, headers)
                    bodies[name] = cursor.fetchone()
            else:
                response = client.get(url, **headers)
                if response.status_code != 200:
                    raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
                bodies[name] = response
            if i >= WARMUP:
                times[name].append((time.perf_counter() - started) * 1000)
    return times, bodies


def _explain_summary(now):
    """The summary's statement with its plan (EXPLAIN ANALYZE of the one pass over the window)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.metrics.summary import runs_summary, summary_runs_for

    user = get_user_model().objects.get(username="bench-metrics-admin")
    with CaptureQueriesContext(connection) as captured:
        runs_summary(runs=summary_runs_for(user), window="24h", now=now)
    sql = next(q["sql"] for q in captured.captured_queries if "WITH r AS MATERIALIZED" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '32MB'")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql)
        plan = "\n".join("    " + row[0] for row in cursor.fetchall())
        cursor.execute("RESET work_mem")
    print(f"\nEXPLAIN of the summary's one statement:\n{plan}\n", flush=True)
    return plan


def _scrape_queries(now):
    """Each query of one scrape with its time: where a slow scrape spends it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.metrics import prometheus

    prometheus.exposition(now=now)
    with CaptureQueriesContext(connection) as captured:
        prometheus.exposition(now=now)
    print("\n  one scrape's queries (seconds, statement):", flush=True)
    for query in captured.captured_queries:
        print(f"    {query['time']:>7}  {' '.join(query['sql'].split())[:140]}", flush=True)


def _time_first_scrape(now, RunTally):
    """The one scrape that counts the whole history (no running totals stored yet), beside a
    scrape that adds the last hour to them: what a new deployment pays once."""
    from runs.metrics import prometheus

    RunTally.objects.all().delete()
    with common.Timer() as first:
        prometheus.exposition(now=now)
    with common.Timer() as then:
        prometheus.exposition(now=now)
    figure("/metrics first scrape ever (counts the history once)", first.seconds * 1000, "ms",
           baseline=then.seconds * 1000, baseline_label="the next scrape")


def bench_metrics() -> None:
    from django.conf import settings
    from django.test import Client

    settings.METRICS_TOKEN = TOKEN
    now = datetime.now(UTC)
    section(
        f"Metrics: an org with {IN_WINDOW:,} runs in the last 24 h and {OLDER:,} older "
        f"({N_SCHEDULES:,} schedules in two orgs), {REQUESTS} requests each, interleaved"
    )
    org, key = _population(now)
    print(f"  (load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    requests = {
        "summary": ("/api/v1/metrics/summary/?window=24h", {"HTTP_AUTHORIZATION": f"Token {key}"}),
        "metrics": ("/metrics", {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}),
        "window": (None, [org.pk, now - timedelta(hours=24), now]),
    }
    times, bodies = _interleaved(Client(), requests, REQUESTS)
    body = bodies["summary"].json()
    assert body["total"] >= IN_WINDOW * 0.99, body["total"]
    assert b"agent_schedules_runs_total" in bodies["metrics"].content
    print(f"  (load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())})")

    floor = percentile(times["window"], 50)
    p99 = percentile(times["summary"], 99)
    figure("summary 24h, p99 server time", p99, "ms", baseline=percentile(times["window"], 99),
           baseline_label="raw count(*) of the window p99", target="<= 150 ms", ok=p99 <= 150)
    figure("summary 24h, p50 server time", percentile(times["summary"], 50), "ms", baseline=floor,
           baseline_label="raw count(*) of the window p50")
    figure("summary 24h, runs counted", body["total"], "runs")
    p99 = percentile(times["metrics"], 99)
    figure(f"/metrics at {N_SCHEDULES:,} schedules and {IN_WINDOW + OLDER + IN_WINDOW // 10:,} runs, p99", p99, "ms",
           baseline=percentile(times["metrics"], 50), baseline_label="its p50", target="<= 100 ms", ok=p99 <= 100)
    figure("/metrics body", len(bodies["metrics"].content), "bytes")
    plan = _explain_summary(now)
    index_only = "Index Only Scan using run_org_created" in plan
    figure("summary reads the window from run_org_created alone (index-only scan)", int(index_only), "bool",
           target="1", ok=index_only)
    from runs.models import RunTally

    _scrape_queries(now)
    _time_first_scrape(now, RunTally)
    common.reset()
    RunTally.objects.all().delete()  # the running totals outlive reset(): they are not run rows


if __name__ == "__main__":
    sys.exit(common.run(bench_metrics))

"""Benchmark: `GET /api/v1/schedules/` for an org with 10k schedules, page size 50 (target in docs/design.md).

Run by `make bench` (scripts/bench.sh) as a script on a throwaway PostgreSQL:

    python tests/bench/bench_api.py

Server time is measured around Django's whole handler in-process (middleware, token auth,
permission selector, keyset page query, serialization, JSON rendering), for the first page
and for a deep page (cursor at row ~9,000), each beside the same page query in raw SQL.
Another org with as many schedules shares the table, so the org filter has to work.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common  # noqa: E402
from tests.bench.common import figure, percentile, section  # noqa: E402

N_SCHEDULES = int(os.environ.get("BENCH_API_N", "10000"))
# p99 of a few hundred samples is its few slowest requests, i.e. scheduler noise; a
# thousand per page gives a ratio that holds from run to run.
REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "1000"))
WARMUP = 30
PAGE = 50
DEEP_ROW = int(N_SCHEDULES * 0.9)

# A web process keeps its database connection between requests (CONN_MAX_AGE); without it
# every request would measure a new PostgreSQL connection, not the endpoint.
os.environ.setdefault("DB_CONN_MAX_AGE", "600")

RAW_PAGE_SQL = """
    SELECT s.*, a.slug, o.slug, cb.username, ub.username
    FROM agent_schedules s
    JOIN schedules_agent a ON a.id = s.agent_id
    JOIN schedules_organization o ON o.id = s.org_id
    LEFT JOIN auth_user cb ON cb.id = s.created_by_id
    LEFT JOIN auth_user ub ON ub.id = s.updated_by_id
    WHERE s.org_id = %s {keyset}
    ORDER BY s.created_at DESC, s.id
    LIMIT %s
"""
KEYSET = "AND s.created_at <= %s AND (s.created_at < %s OR s.id > %s)"


def _population():
    org, _, key = common.admin_with_two_orgs("bench-api", N_SCHEDULES)
    return org, key


def _time_requests(client, urls, headers, n):
    """Server time per URL, the URLs interleaved so that machine noise hits them alike."""
    times = {url: [] for url in urls}
    bodies = {}
    for i in range(WARMUP + n):
        for url in urls:
            started = time.perf_counter()
            response = client.get(url, **headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
            if i >= WARMUP:
                times[url].append(elapsed)
            bodies[url] = response
    return [times[url] for url in urls], [bodies[url].json() for url in urls]


def _time_raw(org_id, cursor_row, n):
    from django.db import connection

    if cursor_row is None:
        sql, params = RAW_PAGE_SQL.format(keyset=""), [org_id, PAGE + 1]
    else:
        created_at, row_id = cursor_row
        sql, params = RAW_PAGE_SQL.format(keyset=KEYSET), [org_id, created_at, created_at, row_id, PAGE + 1]
    times = []
    with connection.cursor() as cur:
        for i in range(WARMUP + n):
            started = time.perf_counter()
            cur.execute(sql, params)
            rows = cur.fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            if i >= WARMUP:
                times.append(elapsed)
    assert len(rows) == PAGE + 1
    return times, sql, params


def _explain(sql, params):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY OFF) " + sql, params)
        return "\n".join("    " + row[0] for row in cur.fetchall())


def _deep_cursor(client, headers, org_slug):
    """Walk next links to the page holding row DEEP_ROW; returns (url, (created_at, id) before it)."""
    from schedules.models import Schedule

    url = f"/api/v1/schedules/?org={org_slug}&page_size={PAGE}"
    for _ in range(DEEP_ROW // PAGE):
        body = client.get(url, **headers).json()
        url = body["next"]
    last = body["results"][-1]
    row = Schedule.objects.filter(pk=last["id"]).values_list("created_at", "id").get()
    return url, row


def bench_list() -> None:
    from django.test import Client

    org, key = _population()
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    section(f"API: GET /api/v1/schedules/ for an org with {N_SCHEDULES:,} schedules (+{N_SCHEDULES:,} in another org), "
            f"page size {PAGE}, {REQUESTS} requests each")
    # p99 on a small shared machine follows its load; print it so a missed figure can be read.
    print(f"  (load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")

    first_url = f"/api/v1/schedules/?org={org.slug}&page_size={PAGE}"
    deep_url, deep_row = _deep_cursor(client, headers, org.slug)
    (first, deep), (first_body, deep_body) = _time_requests(client, [first_url, deep_url], headers, REQUESTS)
    assert len(first_body["results"]) == PAGE and first_body["next"]
    assert len(deep_body["results"]) == PAGE

    raw_first, _, _ = _time_raw(org.pk, None, REQUESTS)
    raw_deep, deep_sql, deep_params = _time_raw(org.pk, deep_row, REQUESTS)

    p99_first, p99_deep = percentile(first, 99), percentile(deep, 99)
    figure("first page, p99 server time", p99_first, "ms", baseline=percentile(raw_first, 99),
           baseline_label="raw SQL page query p99", target="<= 25 ms", ok=p99_first <= 25)
    figure("first page, p50 server time", percentile(first, 50), "ms", baseline=percentile(raw_first, 50),
           baseline_label="raw SQL p50")
    figure(f"deep page (row {DEEP_ROW:,}), p99 server time", p99_deep, "ms", baseline=p99_first,
           baseline_label="first page p99", target="<= 1.2x first page", ok=p99_deep <= p99_first * 1.2)
    figure(f"deep page (row {DEEP_ROW:,}), p50 server time", percentile(deep, 50), "ms",
           baseline=percentile(raw_deep, 50), baseline_label="raw SQL p50")
    figure("deep page raw SQL p99", percentile(raw_deep, 99), "ms", baseline=percentile(raw_first, 99),
           baseline_label="first page raw SQL p99")
    plan = _explain(deep_sql, deep_params)
    print(f"\nEXPLAIN of the deep page query:\n{plan}\n", flush=True)
    uses_index = "schedule_org_created" in plan and "Sort" not in plan
    figure("deep page is a range scan of schedule_org_created (no sort)", int(uses_index), "bool",
           target="1", ok=uses_index)
    common.reset()


if __name__ == "__main__":
    sys.exit(common.run(bench_list))

"""Benchmark: the automation pages for an org with 10k schedules (targets in docs/design.md).

Run by `make bench` (scripts/bench.sh) as a script on a throwaway PostgreSQL:

    python tests/bench/bench_pages.py

Server time is measured around Django's whole handler in-process (session auth, middleware,
workspace, the table's queries, template rendering), as bench_api.py does for the API:

- the schedules table page (`/automation/schedules/`), first page of 50 rows;
- its HTMX partial (the table fragment that the filters and the pager ask for);
- a schedule's runs panel (the fragment that refreshes itself while a run is active);
- the editor's live preview (`POST /automation/schedules/preview/`);
- beside them, in the same interleaved loop, the API list (`GET /api/v1/schedules/`, page
  size 50): the baseline, the same rows without any HTML.

Each schedule has three runs and another org has as many schedules, so the "last run" lookup
and the org filter have to use their indexes. Each page's query count is printed too: it
must not grow with the rows shown (tests/automation checks that at 5 and 50 rows).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common  # noqa: E402
from tests.bench.common import PREVIEW_FORM, UTC, figure, percentile, section  # noqa: E402

N_SCHEDULES = int(os.environ.get("BENCH_PAGES_N", "10000"))
RUNS_PER_SCHEDULE = 3
# Fewer than bench_api's thousand: five URLs interleaved, each a page render.
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "500"))
WARMUP = 20
PAGE = 50

os.environ.setdefault("DB_CONN_MAX_AGE", "600")  # as a web process keeps its connection

TABLE = "/automation/schedules/"
PREVIEW = "/automation/schedules/preview/"

RUNS_SQL = """
    INSERT INTO schedule_runs (
        id, job_run_id, occurrence_key, schedule_id, org_id, trigger_type, attempt, scheduled_for, status, not_before,
        queued_at, started_at, finished_at, session_id, message_id, outputs, error_code, error_message,
        missed_count, agent_slug, prompt, output_type, params, lease_owner, created_at, answer)
    SELECT gen_random_uuid(), 'bench-' || s.id || '-' || k || '-1', 'bench-' || s.id || '-' || k, s.id, s.org_id, 'scheduled', 1,
        %(now)s - make_interval(hours => k), CASE WHEN k = 1 THEN 'failed' ELSE 'success' END,
        %(now)s - make_interval(hours => k), %(now)s - make_interval(hours => k),
        %(now)s - make_interval(hours => k), %(now)s - make_interval(hours => k) + interval '42 seconds',
        'sess-' || k, 'msg-' || k, '[]'::jsonb, CASE WHEN k = 1 THEN 'plane_unreachable' ELSE '' END,
        CASE WHEN k = 1 THEN 'The execution plane did not answer.' ELSE '' END,
        0, 'echo', s.prompt, s.output_type, '{}'::jsonb, '', %(now)s - make_interval(hours => k), ''
    FROM agent_schedules s CROSS JOIN generate_series(1, %(k)s) AS k
    WHERE s.org_id = %(org)s
"""


def _population():
    from datetime import datetime

    from django.db import connection

    org, user, key = common.admin_with_two_orgs("bench-pages", N_SCHEDULES, tz="Asia/Shanghai")
    with connection.cursor() as cursor:
        cursor.execute(RUNS_SQL, {"now": datetime.now(UTC), "k": RUNS_PER_SCHEDULE, "org": org.pk})
        cursor.execute("ANALYZE schedule_runs")
    return org, user, key


def _timed(client, method, url, data, headers):
    started = time.perf_counter()
    response = getattr(client, method)(url, data, **headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{method.upper()} {url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed, response


def _query_count(client, method, url, data, headers) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _timed(client, method, url, data, headers)
    return len(captured)


def bench_pages() -> None:
    from django.test import Client

    from schedules.models import Schedule

    org, user, key = _population()
    page_client, api_client = Client(), Client()
    page_client.force_login(user)
    newest = Schedule.objects.filter(org=org).order_by("-created_at", "-id").first()
    api = {"HTTP_AUTHORIZATION": f"Token {key}"}
    htmx = {"HTTP_HX_REQUEST": "true"}
    # name -> (client, method, url, data, headers)
    requests = {
        "API list (baseline)": (api_client, "get", "/api/v1/schedules/", {"org": org.slug, "page_size": PAGE}, api),
        "table page": (page_client, "get", TABLE, {"org": org.slug}, {}),
        "table partial (HTMX)": (page_client, "get", TABLE, {"org": org.slug, "status": "ok"},
                                 {**htmx, "HTTP_HX_TARGET": "schedules-table"}),
        "runs panel (HTMX)": (page_client, "get", f"/automation/schedules/{newest.pk}/runs/", {},
                              {**htmx, "HTTP_HX_TARGET": "runs-panel"}),
        "editor preview (HTMX)": (page_client, "post", PREVIEW, PREVIEW_FORM, {**htmx, "HTTP_HX_TARGET": "preview"}),
    }
    section(f"Pages: an org with {N_SCHEDULES:,} schedules ({RUNS_PER_SCHEDULE} runs each; +{N_SCHEDULES:,} "
            f"schedules in another org), {PAGE} rows a page, {REQUESTS} requests each, interleaved")
    print(f"  (load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")

    times = {name: [] for name in requests}
    bodies = {}
    for i in range(WARMUP + REQUESTS):
        for name, (client, method, url, data, headers) in requests.items():
            elapsed, bodies[name] = _timed(client, method, url, data, headers)
            if i >= WARMUP:
                times[name].append(elapsed)
    # What was timed is what a person sees: full rows, a fragment without the layout, a preview.
    table_html = bodies["table page"].content.decode()
    partial_html = bodies["table partial (HTMX)"].content.decode()
    assert table_html.count('role="switch"') == PAGE and "<html" in table_html
    assert partial_html.count('role="switch"') == PAGE and "<html" not in partial_html
    assert "Runs" in bodies["runs panel (HTMX)"].content.decode()
    assert "America/New_York" in bodies["editor preview (HTMX)"].content.decode()
    assert len(bodies["API list (baseline)"].json()["results"]) == PAGE

    api_p99 = percentile(times["API list (baseline)"], 99)
    figure("API list, p99 server time", api_p99, "ms", baseline=percentile(times["API list (baseline)"], 50),
           baseline_label="its p50")
    targets = {"table page": 50, "table partial (HTMX)": 25, "editor preview (HTMX)": 20}
    for name in ("table page", "table partial (HTMX)", "runs panel (HTMX)", "editor preview (HTMX)"):
        p99 = percentile(times[name], 99)
        target = targets.get(name)
        figure(f"{name}, p99 server time", p99, "ms", baseline=api_p99, baseline_label="API list p99",
               target=f"<= {target} ms" if target else "", ok=(p99 <= target) if target else None)
        figure(f"{name}, p50 server time", percentile(times[name], 50), "ms",
               baseline=percentile(times["API list (baseline)"], 50), baseline_label="API list p50")
    for name, (client, method, url, data, headers) in requests.items():
        figure(f"{name}, queries per request", _query_count(client, method, url, data, headers), "queries")
    common.reset()


if __name__ == "__main__":
    sys.exit(common.run(bench_pages))

"""Shared helpers for the benchmarks (`make bench`): Django on the bench database, fast bulk
rows, and printing each figure beside its baseline and target.

Bench files are named `bench_*.py` so the normal suite never collects them; `scripts/bench.sh`
runs each as a script against a throwaway PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.constants import UTC

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[dict] = []
# What the editor drawer posts while a person types a weekday cron in a zone with daylight
# saving (bench_pages and the load test).
PREVIEW_FORM = {
    "name": "Weekday sales brief",
    "schedule_type": "cron",
    "cron_expression": "30 2 * * 1-5",
    "timezone": "America/New_York",
    "every_unit": "hours",
}


def setup_django(migrate: bool = True) -> None:
    """django.setup() on DATABASE_URL (must be PostgreSQL), and migrate it once."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Per-row INFO logs would measure the terminal, not the scheduler; warnings still show.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_FORMAT", "json")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("benchmarks run on PostgreSQL: use `make bench` (or set DATABASE_URL=postgres://...)")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def bench_org(slug: str = "bench", max_concurrent_runs: int = 1_000_000):
    """An org whose limit never throttles a benchmark, with agent `echo` (the tests' factories)."""
    from tests.factories import make_agent, make_org

    org = make_org(slug)
    type(org).objects.filter(pk=org.pk).update(max_concurrent_runs=max_concurrent_runs)
    org.refresh_from_db()
    return org, make_agent(org, "echo")


def reset() -> None:
    """Empty the run and schedule tables (TRUNCATE: fast at a million rows)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE schedule_runs, agent_schedules, runs_schedulerheartbeat CASCADE")


def create_schedules(
    n: int,
    *,
    org,
    agent,
    next_run_at: datetime | None,
    spread_seconds: float = 0.0,
    schedule_type: str = "cron",
    cron_expression: str = "* * * * *",
    interval_seconds: int | None = None,
    tz: str = "UTC",
    created_at: datetime | None = None,
    created_step_seconds: float = 0.0,
    enabled: bool = True,
    analyze: bool = True,
) -> None:
    """Insert `n` schedules with one `INSERT ... SELECT generate_series` (1M rows in seconds).

    The one documented exception to tests/factories.py: a million rows cannot go through the
    Python builders in the time a benchmark allows.

    Row g (1..n) gets `next_run_at + g * spread_seconds` and `created_at - g *
    created_step_seconds` (distinct interval anchors when a step is given).
    """
    from django.db import connection

    created_at = created_at or datetime.now(UTC)
    sql = """
        INSERT INTO agent_schedules (
            id, org_id, agent_id, name, description, prompt, output_type, params,
            schedule_type, cron_expression, interval_seconds, run_at, timezone, enabled, next_run_at,
            timing_error, max_concurrency, overlap_policy, max_retries, retry_backoff_seconds,
            timeout_seconds, catchup_window_seconds, alert_after_failures, consecutive_failures,
            source_session_id, source_message_id, paused_reason, created_at, updated_at,
            success_checks, retry_failed_checks)
        SELECT gen_random_uuid(), %(org)s, %(agent)s, 'bench ' || g, '', 'Summarise the bench', 'markdown',
            '{}'::jsonb, %(type)s, %(cron)s, %(interval)s,
            CASE WHEN %(type)s = 'once' THEN %(next)s + make_interval(secs => g * %(spread)s) END,
            %(tz)s, %(enabled)s,
            %(next)s + make_interval(secs => g * %(spread)s),
            '', 1, 'skip', 3, '[30, 60, 300, 900, 3600]'::jsonb, 1800, 3600, 3, 0, '', '', '',
            %(created)s - make_interval(secs => g * %(step)s),
            %(created)s - make_interval(secs => g * %(step)s),
            '[]'::jsonb, true
        FROM generate_series(1, %(n)s) AS g
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "org": org.pk,
                "agent": agent.pk,
                "type": schedule_type,
                "cron": cron_expression if schedule_type == "cron" else "",
                "interval": interval_seconds,
                "tz": tz,
                "enabled": enabled,
                "next": next_run_at,
                "spread": float(spread_seconds),
                "created": created_at,
                "step": float(created_step_seconds),
                "n": n,
            },
        )
        if analyze:
            cursor.execute("ANALYZE agent_schedules")


def run(*benches) -> int:
    """A bench script's main: Django on the bench database, each bench, the missed targets.
    Exits 0 when a target is missed: benchmarks report; only a crash fails."""
    setup_django()
    for bench in benches:
        bench()
    summary()
    return 0


def admin_with_two_orgs(slug: str, n: int, *, tz: str = "UTC", cron_expression: str = "0 9 * * 1-5"):
    """`n` schedules in org `slug` and as many in `<slug>-other` (so the org filter has to
    work), one a minute back in time (distinct created_at, as rows written by people are),
    and an admin of `slug` with an API token. Returns (org, user, token key)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    reset()
    org, agent = bench_org(slug)
    other, other_agent = bench_org(f"{slug}-other")
    now = datetime.now(UTC)
    for o, a in ((org, agent), (other, other_agent)):
        create_schedules(
            n, org=o, agent=a, next_run_at=now + timedelta(hours=1), spread_seconds=1,
            cron_expression=cron_expression, tz=tz, created_at=now, created_step_seconds=60, analyze=False,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE agent_schedules")
    from tests.factories import make_user

    # The user outlives reset() (which empties schedules and runs only): made once per database.
    user = get_user_model().objects.filter(username=f"{slug}-admin").first() or make_user(f"{slug}-admin", org, "admin")
    token, _ = Token.objects.get_or_create(user=user)
    return org, user, token.key


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_label: str = "",
    target: str = "",
    ok: bool | None = None,
    note: str = "",
) -> dict:
    """Print one figure beside its baseline (measured in the same run) and its target."""
    row = {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_label": baseline_label,
        "target": target,
        "ok": ok,
        "note": note,
    }
    RESULTS.append(row)
    verdict = {True: "MET", False: "MISSED", None: "-"}[ok]
    line = f"  {name:<58} {_fmt(value):>10} {unit:<8}"
    if baseline is not None:
        line += f"  baseline {_fmt(baseline)} {unit} ({baseline_label})"
    if target:
        line += f"  target {target}: {verdict}"
    if note:
        line += f"  [{note}]"
    print(line, flush=True)
    return row


def section(title: str) -> None:
    print(f"\n## {title}", flush=True)


def summary() -> int:
    """Print the missed targets; returns how many."""
    missed = [r for r in RESULTS if r["ok"] is False]
    met = [r for r in RESULTS if r["ok"] is True]
    print(f"\n{len(met)} targets met, {len(missed)} missed", flush=True)
    for r in missed:
        print(f"  MISSED: {r['name']} = {_fmt(r['value'])} {r['unit']} (target {r['target']})", flush=True)
    return len(missed)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def next_minute(moment: datetime, at_least_seconds: float = 0.0) -> datetime:
    """The first minute boundary at least `at_least_seconds` after `moment`."""
    target = moment + timedelta(seconds=at_least_seconds)
    return floor_minute(target) + timedelta(minutes=1)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 30 s (a process under test may hang)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)

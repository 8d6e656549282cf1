"""Benchmark: firing throughput, idle cost, and the claim query's plan (targets in docs/design.md).

Run by `make bench` (scripts/bench.sh) as a script on a throwaway PostgreSQL:

    python tests/bench/bench_firing.py            # everything in this file
    python tests/bench/bench_firing.py throughput idle explain

Each figure is printed beside its baseline from the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common  # noqa: E402
from tests.bench.common import figure, section  # noqa: E402
from tests.constants import UTC  # noqa: E402

N_FIRE = int(os.environ.get("BENCH_FIRE_N", "20000"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "20"))


# --- firing throughput --------------------------------------------------------------------


def _due_workload(org, agent, n, due_at, distinct_specs=False):
    common.reset()
    if distinct_specs:
        # Interval schedules with n different anchors: no two share a timing spec, so no
        # computation is shared between rows (the worst case for firing).
        anchor = due_at - timedelta(seconds=60)
        common.create_schedules(
            n, org=org, agent=agent, next_run_at=due_at, spread_seconds=-0.001,
            schedule_type="interval", interval_seconds=60, created_at=anchor, created_step_seconds=0.001,
        )
    else:
        common.create_schedules(n, org=org, agent=agent, next_run_at=due_at, cron_expression="* * * * *")


def raw_sql_cycle(now: datetime, batch: int) -> tuple[int, float]:
    """The baseline: select due, compute next with croniter, insert runs, advance; raw SQL."""
    from croniter import croniter
    from django.db import connection, transaction
    from zoneinfo import ZoneInfo

    from runs.services.ids import attempt_job_run_id, scheduled_occurrence_key

    total, started = 0, time.perf_counter()
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "SELECT s.id, s.org_id, s.cron_expression, s.timezone, s.next_run_at, a.slug, s.prompt,"
                " s.output_type, s.params::text FROM agent_schedules s JOIN schedules_agent a ON a.id = s.agent_id"
                " WHERE s.enabled AND s.next_run_at <= %s ORDER BY s.next_run_at LIMIT %s"
                " FOR UPDATE OF s SKIP LOCKED",
                [now, batch],
            )
            rows = cur.fetchall()
            if not rows:
                break
            runs, ids, nexts = [], [], []
            for sid, org_id, expr, tz, due, slug, prompt, output_type, params in rows:
                zone = ZoneInfo(tz)
                nxt = croniter(expr, now.astimezone(zone)).get_next(datetime).astimezone(UTC)
                key = scheduled_occurrence_key(sid, due)
                runs.append((
                    attempt_job_run_id(key, 1), key, sid, org_id, due, now, slug, prompt, output_type, params,
                ))
                ids.append(sid)
                nexts.append(nxt)
            cur.executemany(
                "INSERT INTO schedule_runs (id, job_run_id, occurrence_key, schedule_id, org_id, trigger_type, attempt,"
                " scheduled_for, status, queued_at, outputs, error_code, error_message, missed_count,"
                " agent_slug, prompt, output_type, params, session_id, message_id, lease_owner, created_at, answer)"
                " VALUES (gen_random_uuid(), %s, %s, %s, %s, 'scheduled', 1, %s, 'queued', %s, '[]', '', '', 0,"
                " %s, %s, %s, %s::jsonb, '', '', '', now(), '') ON CONFLICT (job_run_id) DO NOTHING",
                runs,
            )
            cur.execute(
                "UPDATE agent_schedules s SET next_run_at = v.n, last_run_at = s.next_run_at"
                " FROM unnest(%s::uuid[], %s::timestamptz[]) AS v(id, n) WHERE s.id = v.id",
                [ids, nexts],
            )
            total += len(rows)
    return total, time.perf_counter() - started


def _fire_in_subprocesses(count: int, now: datetime) -> tuple[int, float]:
    """`count` replica processes fire concurrently; rows/s over the union of their spans."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--fire-worker", now.isoformat(), str(BATCH)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(count)
    ]
    for p in procs:  # each prints "ready" once Django is set up
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    written = sum(o["written"] for o in outs)
    span = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    return written, span


def _fire_worker(now_iso: str, batch: int) -> None:
    common.setup_django(migrate=False)
    from runs.firing import fire_due

    now = datetime.fromisoformat(now_iso)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    result = fire_due(now=now, batch_size=batch, replica_id=f"bench-{os.getpid()}")
    print(json.dumps({"written": result.written, "start": start, "end": time.time()}), flush=True)


def _runs_per_occurrence_ok(n: int) -> bool:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT (schedule_id, scheduled_for)) FROM schedule_runs")
        total, distinct = cur.fetchone()
    return total == distinct == n


def _rearm(due_at: datetime) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE schedule_runs")
        cur.execute("UPDATE agent_schedules SET next_run_at = %s, last_run_at = NULL", [due_at])
        cur.execute("VACUUM ANALYZE agent_schedules")


def bench_throughput() -> None:
    from runs.firing import fire_due

    section(f"Firing throughput, database part ({N_FIRE:,} due schedules, batch {BATCH})")
    org, agent = common.bench_org()
    due_at = common.floor_minute(datetime.now(UTC)) - timedelta(minutes=2)
    now = due_at + timedelta(seconds=30)
    _due_workload(org, agent, N_FIRE, due_at)

    raw_sql_cycle(now, BATCH)  # warm-up: the first pass over fresh tables runs slower
    _rearm(due_at)
    fired, seconds = raw_sql_cycle(now, BATCH)
    raw_rate = fired / seconds
    figure("raw-SQL claim cycle with croniter (baseline)", raw_rate, "runs/s", note=f"{fired:,} rows")

    _rearm(due_at)
    with common.Timer() as t:
        result = fire_due(now=now, batch_size=BATCH, replica_id="bench")
    one = result.written / t.seconds
    figure(
        "fire_due, 1 replica, one shared cron spec", one, "runs/s", baseline=raw_rate, baseline_label="raw SQL",
        target=">= 5,000/s and >= 40% of raw", ok=one >= 5000 and one >= 0.4 * raw_rate,
    )
    exact_one = _runs_per_occurrence_ok(N_FIRE)

    _rearm(due_at)
    written, span = _fire_in_subprocesses(2, now)
    two = written / span
    exact_two = _runs_per_occurrence_ok(N_FIRE)
    figure(
        "fire_due, 2 replica processes, one shared cron spec", two, "runs/s", baseline=one, baseline_label="1 replica",
        target="not slower than 1 replica", ok=two >= one * 0.95,
        note="exactly one run per occurrence" if exact_two and exact_one else "DUPLICATE OR MISSING RUNS",
    )
    figure("exactly one run per occurrence (1 and 2 replicas)", int(exact_one and exact_two), "bool",
           target="1", ok=exact_one and exact_two)

    _due_workload(org, agent, N_FIRE, due_at, distinct_specs=True)
    with common.Timer() as t:
        result = fire_due(now=now, batch_size=BATCH, replica_id="bench")
    distinct = result.written / t.seconds
    figure(
        "fire_due, 1 replica, every row a distinct interval spec", distinct, "runs/s",
        baseline=raw_rate, baseline_label="raw SQL", target=">= 5,000/s and >= 40% of raw",
        ok=distinct >= 5000 and distinct >= 0.4 * raw_rate,
    )


# --- idle cost and the claim plan -----------------------------------------------------------


def _start_scheduler(extra_env=None) -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "WARNING", "SCHEDULER_POLL_SECONDS": "1", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, str(common.ROOT / "manage.py"), "run_scheduler", "--id", "bench-idle"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _idle_process_figures() -> tuple[float, float]:
    """CPU seconds per minute and RSS of a real run_scheduler process with nothing due."""
    from runs.models import SchedulerHeartbeat
    from tests.polling import wait_until

    SchedulerHeartbeat.objects.filter(replica_id="bench-idle").delete()
    proc = _start_scheduler()
    try:
        def beating():
            if proc.poll() is not None:
                raise RuntimeError(f"scheduler did not start: {proc.stderr.read()[-2000:]}")
            return SchedulerHeartbeat.objects.filter(replica_id="bench-idle").exists()

        wait_until(beating, deadline=30, interval=0.1, what="the idle scheduler's first heartbeat")
        # Measurement windows, not waits for the scheduler: let start-up (imports, first
        # connection) settle, then sample CPU over a fixed stretch of idle wall time.
        time.sleep(2)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 60
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return cpu, rss


def _queries_per_poll() -> tuple[int, int]:
    """Queries in one idle pass of the loop (look, fire, dispatch, reconcile) and its wait.

    The heartbeat is left out: an idle replica writes it once every BEAT_EVERY_SECONDS, not
    every pass (the warm-up pass writes it, and the measured pass follows within a second).
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.scheduler import Scheduler

    scheduler = Scheduler(replica_id="bench-queries", batch_size=BATCH, poll_seconds=1, workers=2)
    scheduler.run_once()  # warm: the first pass writes the heartbeat
    with CaptureQueriesContext(connection) as ctx:
        scheduler.wait_seconds(scheduler.run_once())
    scheduler.shutdown()
    claims = sum(1 for q in ctx.captured_queries if "FOR UPDATE" in q["sql"] and "agent_schedules" in q["sql"])
    return len(ctx.captured_queries), claims


def _look_plan() -> str:
    """EXPLAIN of the one query an idle pass makes (`Scheduler.look`)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.scheduler import Scheduler

    scheduler = Scheduler(replica_id="bench-look", batch_size=BATCH, poll_seconds=1, workers=2)
    with CaptureQueriesContext(connection) as ctx:
        scheduler.look(datetime.now(UTC))
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + ctx.captured_queries[0]["sql"])
        return "\n".join(row[0] for row in cur.fetchall())


def _claim_plan(repeats: int = 7) -> tuple[str, float]:
    from django.db import connection, transaction

    from runs.firing import claim_due_queryset

    plan, times = "", []
    for _ in range(repeats):
        with transaction.atomic(), connection.cursor() as cur:
            # Compiled inside the transaction: a FOR UPDATE query refuses to compile outside one.
            sql, params = claim_due_queryset(now=datetime.now(UTC), batch_size=BATCH).query.sql_with_params()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            lines = [row[0] for row in cur.fetchall()]
            transaction.set_rollback(True)
        plan = "\n".join(lines)
        times.append(float(next(line for line in lines if line.startswith("Execution Time")).split()[2]))
    return plan, common.median(times)


def _alert_check_cost() -> tuple[int, float]:
    """Queries and milliseconds of one alerts step (the others' health, stalled alerts, the
    deliveries due), which an idle replica runs every SCHEDULER_ALERT_CHECK_SECONDS."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.scheduler import Scheduler

    scheduler = Scheduler(replica_id="bench-alerts", batch_size=BATCH, poll_seconds=1, workers=2)
    scheduler.beat(datetime.now(UTC))
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        scheduler.check_alerts(datetime.now(UTC))
        elapsed = (time.perf_counter() - started) * 1000
    scheduler.shutdown()
    return len(ctx.captured_queries), elapsed


def _population(n: int, due: int, org, agent) -> None:
    """n schedules: `due` of them due now, the rest spread over the coming year."""
    common.reset()
    now = datetime.now(UTC)
    if due:
        common.create_schedules(due, org=org, agent=agent, next_run_at=now - timedelta(seconds=1), analyze=False)
    common.create_schedules(
        n - due, org=org, agent=agent, next_run_at=now + timedelta(days=1), spread_seconds=300,
        cron_expression="0 9 1 1 *",
    )


def bench_idle_and_plan() -> None:
    from django.db import connection

    org, agent = common.bench_org()
    section("Flat in N: nothing due, a real run_scheduler process (poll 1 s)")
    idle = {}
    for n in (1_000, 100_000):
        _population(n, 0, org, agent)
        queries, claims = _queries_per_poll()
        alert_queries, alert_ms = _alert_check_cost()
        cpu, rss = _idle_process_figures()
        idle[n] = (cpu, rss, queries, claims, alert_queries, alert_ms)
        if n == 100_000:
            print(f"\nEXPLAIN of the idle pass's one query at {n:,} schedules:\n{_look_plan()}\n", flush=True)
    (c1, r1, q1, _, a1, m1), (c2, r2, q2, k2, a2, m2) = idle[1_000], idle[100_000]
    figure("idle CPU at 100k schedules", c2, "cpu-s/min", baseline=c1, baseline_label="1k",
           target="within 20% of 1k", ok=c2 <= c1 * 1.2 + 0.05)
    figure("idle queries per poll at 100k", q2, "queries", baseline=q1, baseline_label="1k",
           target="same as 1k, at most one claim query", ok=q2 == q1 and k2 <= 1,
           note=f"{k2} claim queries: nothing due, so the look alone; +1 heartbeat every 5 s")
    figure("idle alert check at 100k", a2, "queries", baseline=a1, baseline_label="1k",
           target="same as 1k", ok=a2 == a1,
           note=f"every SCHEDULER_ALERT_CHECK_SECONDS, not every poll; {m2:.1f} ms at 100k vs {m1:.1f} ms at 1k")
    figure("idle RSS at 100k", r2, "MB", baseline=r1, baseline_label="1k",
           target="< 100 MB, within 20% of 1k", ok=r2 < 100 and r2 <= r1 * 1.2)

    section("The claim query's plan (1,000 due rows)")
    plans = {}
    for n in (100_000, 1_000_000):
        with common.Timer() as t:
            _population(n, 1_000, org, agent)
        plans[n] = _claim_plan()
        print(f"\nEXPLAIN at {n:,} schedules (built in {t.seconds:.1f} s):\n{plans[n][0]}\n", flush=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_size_pretty(pg_relation_size('schedule_due_idx'))")
        index_size = cur.fetchone()[0]
    t1, t2 = plans[100_000][1], plans[1_000_000][1]
    uses_index = all("schedule_due_idx" in plans[n][0] and "Seq Scan on agent_schedules" not in plans[n][0]
                     for n in plans)
    figure("claim query at 1M (median EXPLAIN ANALYZE)", t2, "ms", baseline=t1, baseline_label="100k",
           target="<= 1.5x of 100k", ok=t2 <= t1 * 1.5, note=f"due index {index_size} at 1M")
    figure("claim plan is a range scan of schedule_due_idx", int(uses_index), "bool", target="1", ok=uses_index)
    common.reset()


BENCHES = {"throughput": bench_throughput, "idle": bench_idle_and_plan}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fire-worker"]:
        _fire_worker(argv[1], int(argv[2]))
        return 0
    common.setup_django()
    for name in argv or list(BENCHES):
        BENCHES[name]()
    common.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The machinery of the lag benchmarks (bench_lag.py): the dataset, reused between cases, the
exact commit times of run rows, real `run_scheduler` processes, and the raw-SQL baseline.

- **Dataset.** The idle schedules (due tomorrow, never fired in a case) live in their own org
  and are written once per database with `generate_series`: a case only swaps the due ones,
  so the million-schedule cases build their million once.
- **Committed.** A statement trigger copies each inserted run's `job_run_id` into a side table
  that is never updated, so `pg_xact_commit_timestamp(xmin)` of its rows is the commit time of
  the transaction that wrote the run (PostgreSQL's `track_commit_timestamp`, which
  scripts/bench.sh turns on). Exact, and nobody polls the run table while the scheduler works.
- **Accepted.** The loopback plane's own time stamp of the session's creation (the fast plane,
  tests/bench/fast_plane.py, in its own process: its CPU is not the bench's, and reads
  separately from /proc).
- **Baseline.** What the database alone needs: one transaction of raw SQL that inserts the same
  run rows (the same columns, through the same trigger) and advances the same schedules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

from tests.bench import common
from tests.constants import UTC

IDLE_ORG = "bench-idle"


def setup() -> None:
    """The commit log (a side table and the trigger that fills it); refuses to run without
    commit time stamps, which the figures depend on."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW track_commit_timestamp")
        if cur.fetchone()[0] != "on":
            raise SystemExit("bench_lag needs PostgreSQL started with -c track_commit_timestamp=on (scripts/bench.sh does)")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_run_commits (job_run_id varchar(200), scheduled_for timestamptz)")
        cur.execute(
            "CREATE OR REPLACE FUNCTION bench_note_runs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO bench_run_commits SELECT job_run_id, scheduled_for FROM new_rows; RETURN NULL; END $$"
        )
        cur.execute("DROP TRIGGER IF EXISTS bench_note_runs ON schedule_runs")
        cur.execute(
            "CREATE TRIGGER bench_note_runs AFTER INSERT ON schedule_runs REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION bench_note_runs()"
        )


def teardown() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS bench_note_runs ON schedule_runs")
        cur.execute("DROP TABLE IF EXISTS bench_run_commits")


def orgs(n: int, *, prefix: str = "bench", limit: int = 1_000_000) -> list[tuple[int, int]]:
    """`n` orgs (`bench`, or `bench-0000`...) with agent `echo` each: [(org id, agent id)]."""
    from schedules.models import Agent, Organization

    slugs = [prefix] if n == 1 else [f"{prefix}-{i:04d}" for i in range(n)]
    Organization.objects.bulk_create(
        [Organization(slug=s, name=s, max_concurrent_runs=limit) for s in slugs], ignore_conflicts=True
    )
    found = Organization.objects.filter(slug__in=slugs)
    found.update(max_concurrent_runs=limit)
    ids = dict(found.values_list("slug", "id"))
    Agent.objects.bulk_create([Agent(org_id=ids[s], slug="echo", name="Echo") for s in slugs], ignore_conflicts=True)
    agents = dict(Agent.objects.filter(org_id__in=ids.values(), slug="echo").values_list("org_id", "id"))
    return [(ids[s], agents[ids[s]]) for s in slugs]


def prepare(*, total: int | None, due: int, n_orgs: int, due_at: datetime | None = None, lead_seconds: float = 10.0,
            schedule_type: str = "cron", limit: int = 1_000_000) -> datetime:
    """`due` schedules over `n_orgs` orgs, among `total` in all, and no runs; returns the
    instant they are due: `due_at`, else the first minute boundary `lead_seconds` after the
    data is ready (so building it never eats into the lag measured).

    The idle `total - due` are kept from an earlier case when their number is right (all of
    them with `total=None`)."""
    from django.db import connection

    from schedules.models import Schedule

    with connection.cursor() as cur:
        cur.execute("TRUNCATE schedule_runs, runs_schedulerheartbeat, bench_run_commits CASCADE")
    (idle_org, idle_agent), = orgs(1, prefix=IDLE_ORG)
    # Raw deletes: the ORM's would load every id first (a million of them).
    with connection.cursor() as cur:
        cur.execute("DELETE FROM agent_schedules WHERE org_id <> %s", [idle_org])
    idle = None if total is None else total - due
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    if idle is not None and Schedule.objects.filter(org_id=idle_org).count() != idle:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM agent_schedules WHERE org_id = %s", [idle_org])
        common.create_schedules(
            idle, org=_Ref(idle_org), agent=_Ref(idle_agent), next_run_at=tomorrow,
            spread_seconds=300 * 100_000 / max(idle, 1), cron_expression="0 9 1 1 *", analyze=False,
        )
    per_org, extra = divmod(due, n_orgs)
    parked = tomorrow - timedelta(hours=1)  # moved to the due instant once everything is written
    for i, (org_id, agent_id) in enumerate(orgs(n_orgs, limit=limit)):
        n = per_org + (1 if i < extra else 0)
        if n:
            common.create_schedules(
                n, org=_Ref(org_id), agent=_Ref(agent_id), next_run_at=parked, schedule_type=schedule_type,
                cron_expression="* * * * *", analyze=False,
            )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE agent_schedules")
        cur.execute("VACUUM ANALYZE schedule_runs")
        if due_at is None and schedule_type == "once":
            due_at = datetime.now(UTC) + timedelta(seconds=lead_seconds)  # any instant will do
        due_at = due_at or common.next_minute(datetime.now(UTC), at_least_seconds=lead_seconds)
        cur.execute(
            "UPDATE agent_schedules SET next_run_at = %s, run_at = CASE WHEN run_at IS NULL THEN NULL ELSE %s END"
            " WHERE next_run_at = %s",
            [due_at, due_at, parked],
        )
    return due_at


class _Ref:
    def __init__(self, pk):
        self.pk = pk


def scheduler(plane_url: str, replica: str, *, workers: str, extra_env: dict | None = None) -> subprocess.Popen:
    """A real `run_scheduler` process against the loopback plane (under py-spy when
    BENCH_PYSPY names a folder: one flame graph per replica and case)."""
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        "EXECUTION_PLANE": "http",
        "EXECUTION_PLANE_URL": plane_url,
        "EXECUTION_PLANE_SECRET": "bench-secret",
        **(extra_env or {}),
    }
    cmd = [sys.executable, str(common.ROOT / "manage.py"), "run_scheduler", "--id", replica, "--workers", workers]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc.spy = None
    profile = os.environ.get("BENCH_PYSPY")
    if profile:
        os.makedirs(profile, exist_ok=True)
        out = os.path.join(profile, f"{replica}-{int(time.time())}.txt")
        spy = ["py-spy", "record", "--format", "raw", "--rate", "100", "--threads", "--gil", "-o", out, "--pid", str(proc.pid)]
        proc.spy = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a scheduler (and write its profile first)."""
    if proc.spy is not None:
        proc.spy.send_signal(signal.SIGINT)
        proc.spy.wait(30)
    common.stop_process(proc)


def ready(procs, deadline: float = 60) -> list[float]:
    """Wait until each scheduler has written its first heartbeat (Django loaded, first pass
    done); returns the CPU each has used so far, which the per-run figures leave out."""
    from runs.models import SchedulerHeartbeat

    end = time.time() + deadline
    while SchedulerHeartbeat.objects.count() < len(procs) and time.time() < end:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"scheduler exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)  # polling for the processes to start, with a deadline
    return [cpu_seconds(proc) for proc in procs]


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU of the process and its children so far (Linux /proc)."""
    total = 0.0
    pids = [proc.pid]
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def wait_done(expected: int, plane, *, sessions_before: int, deadline: float, procs) -> None:
    """Until `expected` runs are committed and as many sessions accepted (polled every 50 ms:
    the times come from the commit log and the plane, not from this loop)."""
    from django.db import connection

    end = time.time() + deadline
    committed = 0
    with connection.cursor() as cur:
        while time.time() < end:
            if committed < expected:
                cur.execute("SELECT count(*) FROM bench_run_commits")  # never fewer than the case's own
                committed = cur.fetchone()[0]
            if committed >= expected and plane.unique_sessions - sessions_before >= expected:
                return
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"scheduler exited: {proc.stderr.read()[-2000:]}")
            time.sleep(0.05)  # polling for the end only, with a deadline


def committed_times(scheduled_for: datetime | None = None) -> dict[str, float]:
    """{job_run_id: wall-clock commit time} of the runs written since `prepare` (of one
    occurrence: a slow case may see its every-minute schedules fire again)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT job_run_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM bench_run_commits"
            " WHERE %(at)s::timestamptz IS NULL OR scheduled_for = %(at)s",
            {"at": scheduled_for},
        )
        return {job_run_id: float(at) for job_run_id, at in cur.fetchall()}


def accepted_times(plane, keys, *, sessions_before: int) -> dict[str, float]:
    """{job_run_id: wall-clock time the plane created its session} of the runs in `keys`,
    among the sessions started after the first `sessions_before`."""
    return {key: at for key, at in plane.started(after=sessions_before).items() if key in keys}


def raw_baseline(due_at: datetime) -> float:
    """Seconds for one transaction of raw SQL to insert a run per schedule due at `due_at` and
    advance those schedules by a minute: what the database alone needs for the burst."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """
            WITH due AS (
                SELECT s.id, s.org_id, s.prompt, s.output_type, s.params, a.slug
                FROM agent_schedules s JOIN schedules_agent a ON a.id = s.agent_id
                WHERE s.enabled AND s.next_run_at <= %(at)s ORDER BY s.next_run_at FOR UPDATE OF s SKIP LOCKED
            ), ins AS (
                INSERT INTO schedule_runs (
                    id, job_run_id, occurrence_key, schedule_id, org_id, trigger_type, attempt, scheduled_for,
                    status, queued_at, missed_count, error_code, error_message, agent_slug, prompt, output_type,
                    params, created_at, session_id, message_id, outputs, lease_owner)
                SELECT gen_random_uuid(), replace(id::text, '-', '') || '-' || %(stamp)s || '-1', replace(id::text, '-', '') || '-' || %(stamp)s,
                    id, org_id, 'scheduled', 1, %(at)s, 'queued', now(), 0, '', '', slug, prompt, output_type,
                    params, now(), '', '', '[]'::jsonb, ''
                FROM due ON CONFLICT (job_run_id) DO NOTHING
            )
            UPDATE agent_schedules s SET next_run_at = %(at)s + interval '1 minute', last_run_at = %(at)s
            FROM due WHERE s.id = due.id
            """,
            {"at": due_at, "stamp": due_at.strftime("%Y%m%dT%H%M%S") + "Z"},
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("TRUNCATE schedule_runs, bench_run_commits CASCADE")
        cur.execute("UPDATE agent_schedules SET next_run_at = %s, last_run_at = NULL WHERE next_run_at = %s",
                    [due_at, due_at + timedelta(minutes=1)])
    return seconds

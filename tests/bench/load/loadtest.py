"""Load test (`make loadtest`): people on the pages and the API while the scheduler fires.

gunicorn + PostgreSQL + one `run_scheduler` + a loopback execution plane (its own process),
10,000 schedules in one org of which 200 fire every minute. First the scheduler fires with
no load (its idle lag), then C concurrent users (8, 32, 64) for 60 s each, every phase
centred on a minute boundary so that one firing of the 200 falls in its middle. Printed:

- per phase and endpoint: count, errors, p50/p95/p99 (ms), and requests per second;
- the scheduler's accepted lag per minute (plane session created - fire time), idle beside
  loaded;
- per-process CPU (gunicorn, postgres, scheduler, plane, this client), as % of one core;
- checks: no duplicate runs or plane sessions, every accepted run-now exactly one run.

Settings (environment): LOAD_USERS="8,32,64", LOAD_SECONDS=60, LOAD_IDLE_MINUTES=2,
LOAD_SCHEDULES=10000, LOAD_FIRING=200, LOAD_SHORT=1 (8 users for 20 s after one idle minute:
a quick check), LOAD_GUNICORN="--workers 3 --threads 4" (gunicorn options over gunicorn.conf.py).
Runs through scripts/loadtest.sh, which starts the throwaway PostgreSQL (DATABASE_URL, PG_DATA).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

# One key for this process (which makes the signed-in sessions) and the web server (which
# reads them): a session's hash is keyed on SECRET_KEY.
os.environ.setdefault("SECRET_KEY", "load-" + secrets.token_hex(32))
# The processes this starts get the environment as it was, before Django's setup touches it.
BASE_ENV = dict(os.environ)

from tests.bench import common  # noqa: E402
from tests.bench.common import UTC, section  # noqa: E402
from tests.bench.load import client, procs, report  # noqa: E402
from tests.polling import wait_until  # noqa: E402

SHORT = os.environ.get("LOAD_SHORT", "") not in ("", "0")
USERS = [int(u) for u in os.environ.get("LOAD_USERS", "8" if SHORT else "8,32,64").split(",") if u.strip()]
SECONDS = float(os.environ.get("LOAD_SECONDS", "20" if SHORT else "60"))
IDLE_MINUTES = int(os.environ.get("LOAD_IDLE_MINUTES", "1" if SHORT else "2"))
N_SCHEDULES = int(os.environ.get("LOAD_SCHEDULES", "10000"))
N_FIRING = int(os.environ.get("LOAD_FIRING", "200"))
PEOPLE = 8  # accounts the users share (an admin each): per-user caches see several people
SECRET = "load-plane-secret"
# gunicorn reads gunicorn.conf.py (workers and threads from the CPUs); LOAD_GUNICORN's options
# win over it. Main before issue 12, for comparison:
#   LOAD_GUNICORN="--workers 3 --threads 4" DB_CONN_MAX_AGE=0 make loadtest
DEFAULT_GUNICORN = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate():
    """The org, its 10k schedules (200 due at the next minute, every minute) and PEOPLE signed-in admins."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from tests.bench.bench_pages import RUNS_SQL
    from tests.factories import make_user

    common.reset()
    org, agent = common.bench_org("load")
    now = datetime.now(UTC)
    common.create_schedules(
        N_SCHEDULES - N_FIRING, org=org, agent=agent, next_run_at=now + timedelta(days=30), spread_seconds=60,
        cron_expression="0 9 1 1 *", created_at=now, created_step_seconds=60, analyze=False,
    )
    with connection.cursor() as cursor:
        # A history behind the table's "last run" column (three runs each, as bench_pages has).
        cursor.execute(RUNS_SQL, {"now": now, "k": 3, "org": org.pk})
    quiet_ids = [str(pk) for pk in type(org).objects.get(pk=org.pk).schedules.values_list("pk", flat=True)]
    people = []
    for i in range(PEOPLE):
        user = get_user_model().objects.filter(username=f"load-{i}").first() or make_user(f"load-{i}", org, "admin")
        token, _ = Token.objects.get_or_create(user=user)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        # Django accepts its unmasked 32-character secret as both the cookie and the header.
        people.append(client.Person(session_key=session.session_key, csrf=secrets.token_hex(16), token=token.key))
    # Last, so that the first firing is far enough ahead for the processes to start.
    first_fire = common.next_minute(datetime.now(UTC), at_least_seconds=20)
    common.create_schedules(N_FIRING, org=org, agent=agent, next_run_at=first_fire, cron_expression="* * * * *",
                            created_at=now - timedelta(days=30), analyze=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE agent_schedules")
        cursor.execute("ANALYZE schedule_runs")
    return org, agent, quiet_ids, people, first_fire


def _env(**extra) -> dict:
    return {**BASE_ENV, "DEBUG": "false", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json", **extra}


def start_processes(workdir: Path, web_port: int) -> dict[str, subprocess.Popen]:
    site = f"http://127.0.0.1:{web_port}"
    plane = subprocess.Popen(
        # Its own process: a plane sharing the client's GIL would stamp sessions late under load.
        [sys.executable, "-m", "tests.plane_server", "--secret", SECRET, "--sessions-out", str(workdir / "sessions.json"),
         "--complete-after", "0.5", "--callback"],
        cwd=common.ROOT, stdout=subprocess.PIPE, text=True,
    )
    plane_url = f"http://127.0.0.1:{plane.stdout.readline().strip()}"
    env = _env(SITE_URL=site, EXECUTION_PLANE="http",
               EXECUTION_PLANE_URL=plane_url, EXECUTION_PLANE_SECRET=SECRET,
               API_THROTTLE_WRITE="", API_THROTTLE_RUN="")
    options = os.environ.get("LOAD_GUNICORN", DEFAULT_GUNICORN).split()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{web_port}", *options],
        cwd=common.ROOT, env=env, stdout=open(workdir / "gunicorn.out", "w"), stderr=subprocess.STDOUT,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "run_scheduler", "--id", "load"],
        cwd=common.ROOT, env=env, stdout=open(workdir / "scheduler.out", "w"), stderr=subprocess.STDOUT,
    )
    _wait_http(f"{site}/accounts/login/", web, workdir / "gunicorn.out")
    return {"gunicorn": web, "scheduler": scheduler, "plane": plane}


def _wait_http(url: str, proc: subprocess.Popen, output: Path, seconds: float = 60) -> None:
    import httpx

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}:\n{output.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling until the web server answers, with a deadline
    raise SystemExit(f"gunicorn did not answer {url} within {seconds:.0f} s")


def stop(procs_by_name: dict[str, subprocess.Popen]) -> None:
    """The scheduler first (no new sessions), then the plane (it writes its sessions; its last
    callbacks still find the web server), then gunicorn."""
    for name in ("scheduler", "plane", "gunicorn"):
        common.stop_process(procs_by_name[name])


def _runs_settled() -> bool:
    """No run is running or due to start: every plane callback has been answered (a retry
    waiting for its back-off does not count)."""
    from django.db.models import Q

    from runs.models import RunStatus, ScheduleRun

    due = Q(not_before__isnull=True) | Q(not_before__lte=datetime.now(UTC))
    return not ScheduleRun.objects.filter(Q(status=RunStatus.RUNNING) | (Q(status=RunStatus.QUEUED) & due)).exists()


def _sleep_until(moment: datetime) -> None:
    wait = moment.timestamp() - time.time()
    if wait > 0:
        time.sleep(wait)  # a load test runs on the wall clock: phases are set on minute boundaries


def main() -> int:
    common.setup_django()
    org, agent, quiet_ids, people, first_fire = populate()
    workdir = Path(tempfile.mkdtemp(prefix="loadtest-"))
    web_port = _free_port()
    running = start_processes(workdir, web_port)
    roots = {name: proc.pid for name, proc in running.items()}
    roots["postgres"] = procs.postmaster_pid(os.environ.get("PG_DATA", "")) or -1
    roots["load client"] = os.getpid()
    target = client.Target(base_url=f"http://127.0.0.1:{web_port}", org=org.slug, agent=agent.slug, people=people,
                           schedule_ids=quiet_ids)
    section(f"Load test: {N_SCHEDULES:,} schedules in one org, {N_FIRING} firing every minute; users {USERS}, "
            f"{SECONDS:.0f} s each; gunicorn {os.environ.get('LOAD_GUNICORN', DEFAULT_GUNICORN)!r}"
            f" over gunicorn.conf.py; DB_CONN_MAX_AGE={BASE_ENV.get('DB_CONN_MAX_AGE', 'its default')}")
    # Fire minute -> what ran meanwhile (other minutes, e.g. between phases, are not reported).
    # The first firing meets processes still starting (gunicorn loading Django, first
    # connections): shown as "warm-up", left out of the idle figure.
    labels = {first_fire: "warm-up"}
    labels.update({first_fire + timedelta(minutes=1 + m): "idle" for m in range(IDLE_MINUTES)})
    phases = []
    try:
        _sleep_until(first_fire + timedelta(seconds=58))
        cpu_idle_from = procs.cpu_seconds(roots), time.monotonic()
        for i, users in enumerate(USERS):
            centre = first_fire + timedelta(minutes=1 + IDLE_MINUTES + i)
            _sleep_until(centre - timedelta(seconds=SECONDS / 2))
            if i == 0:
                cpu_idle = report.cpu_share(cpu_idle_from, (procs.cpu_seconds(roots), time.monotonic()))
            load_avg = os.getloadavg()
            before = procs.cpu_seconds(roots), time.monotonic()
            results = client.run_phase(target, users, SECONDS, seed=i + 1)
            cpu = report.cpu_share(before, (procs.cpu_seconds(roots), time.monotonic()))
            phases.append({"users": users, "results": results, "cpu": cpu, "load_avg": load_avg})
            labels[centre] = f"{users} users"
        # The last firing's runs finish (0.5 s in the plane) and call back before the count.
        wait_until(_runs_settled, deadline=60, what="the last firing's runs to finish")
    finally:
        stop(running)
    report.print_phases(phases, cpu_idle)
    report.print_lag_and_checks(workdir / "sessions.json", labels, phases, n_firing=N_FIRING)
    common.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())

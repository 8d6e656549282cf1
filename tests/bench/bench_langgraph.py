"""Benchmark: EXECUTION_PLANE=langgraph end to end, beside the HTTP plane in the same run.

    python tests/bench/bench_langgraph.py      # (scripts/bench.sh: on a throwaway PostgreSQL)

N (200) once-schedules due at one instant; a real `run_scheduler` process; the plane is
either the loopback contract server (tests/plane_server.py) or a real `langgraph dev`
(tests/langgraph_server.py, graph `echo`, 10 jobs per worker). A run counts as accepted when
the plane recorded it: the contract server's session stamp, the Agent Server's run
`created_at`. Figures: accepted lag (from the due instant) p50/p99, and runs/s from the due
instant to the last acceptance. For LangGraph also when the server had finished all N runs
(its own `updated_at`), since its runs execute on the server's workers.

The webhooks point at a closed port (no web server here): the Agent Server's attempts fail,
which it logs; polling would settle the runs on our side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common  # noqa: E402
from tests.bench.common import figure, section  # noqa: E402
from tests.constants import UTC  # noqa: E402

N = int(os.environ.get("BENCH_LANGGRAPH_N", "200"))
WORKERS = os.environ.get("BENCH_WORKERS", "16")
MONO_TO_WALL = time.time() - time.monotonic()


def _scheduler(env: dict, replica: str) -> subprocess.Popen:
    full = {**os.environ, "LOG_LEVEL": "WARNING", "EXECUTION_PLANE_SECRET": "bench-secret", **env}
    cmd = [sys.executable, str(common.ROOT / "manage.py"), "run_scheduler", "--id", replica, "--workers", WORKERS]
    return subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _accepted_rows(deadline: float, proc) -> list[tuple[str, str, str]]:
    """Wait until all N runs have the plane's answer recorded; (job_run_id, session, message)."""
    from runs.models import ScheduleRun

    end = time.time() + deadline
    while time.time() < end:
        rows = list(ScheduleRun.objects.exclude(session_id="").values_list("job_run_id", "session_id", "message_id"))
        if len(rows) >= N:
            return rows
        if proc.poll() is not None:
            raise RuntimeError(f"scheduler exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)  # polling the table until every run is accepted, with a deadline
    raise RuntimeError(f"only {len(rows)} of {N} runs accepted within {deadline} s")


def _scenario(name: str, env: dict) -> tuple[datetime, list[tuple[str, str, str]]]:
    org, agent = common.bench_org()
    common.reset()
    due_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    common.create_schedules(N, org=org, agent=agent, next_run_at=due_at, schedule_type="once")
    proc = _scheduler(env, f"bench-{name}")
    try:
        rows = _accepted_rows(120, proc)
    finally:
        common.stop_process(proc)
    return due_at, rows


def _figures(label: str, lags: list[float], rate: float, base: dict | None) -> dict:
    out = {"p50": common.median(lags), "p99": common.percentile(lags, 99), "rate": rate}
    kw = lambda key: {"baseline": base[key], "baseline_label": "HTTP plane, same run"} if base else {}  # noqa: E731
    figure(f"{label}: accepted lag p50", out["p50"], "s", **kw("p50"))
    figure(f"{label}: accepted lag p99", out["p99"], "s", **kw("p99"), note=f"{len(lags)} accepted")
    figure(f"{label}: due instant to last accepted", rate, "runs/s", **kw("rate"))
    return out


def bench_http() -> dict:
    from tests.plane_server import PlaneServer

    plane = PlaneServer(secret="bench-secret").start()
    try:
        due_at, rows = _scenario("http", {"EXECUTION_PLANE": "http", "EXECUTION_PLANE_URL": plane.url})
        with plane.lock:
            accepted = {s.job_run_id: s.started + MONO_TO_WALL for s in plane.sessions.values()}
    finally:
        plane.stop()
    lags = [accepted[job] - due_at.timestamp() for job, _, _ in rows if job in accepted]
    return _figures("HTTP plane", lags, len(lags) / max(lags), None)


def bench_langgraph(http: dict) -> None:
    from tests.langgraph_server import start_in

    with tempfile.TemporaryDirectory(prefix="bench-langgraph-") as folder:
        server = start_in(Path(folder))
        try:
            env = {
                "EXECUTION_PLANE": "langgraph",
                "LANGGRAPH_URL": server.url,
                "SITE_URL": f"http://127.0.0.1:{_closed_port()}",
            }
            due_at, rows = _scenario("langgraph", env)
            server_runs = _wait_finished(server, rows, deadline=180)
        finally:
            server.stop()
    base = due_at.timestamp()
    lags = [_stamp(run["created_at"]) - base for run in server_runs]
    _figures("LangGraph", lags, len(lags) / max(lags), http)
    done = [_stamp(run["updated_at"]) - base for run in server_runs if run["status"] == "success"]
    figure("LangGraph: server finished all runs, from the due instant", max(done) if done else float("nan"), "s",
           note=f"{len(done)} of {N} succeeded; 10 jobs per worker")


def _wait_finished(server, rows, deadline: float) -> list[dict]:
    end = time.time() + deadline
    while True:
        runs = [server.get(f"/threads/{session}/runs/{message}") for _, session, message in rows]
        if all(run["status"] not in ("pending", "running") for run in runs) or time.time() > end:
            return runs
        time.sleep(0.5)  # polling the server until its runs end, with a deadline


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _closed_port() -> int:
    from tests.langgraph_server import free_port

    return free_port()


def main() -> int:
    common.setup_django()
    section(f"{N} runs due at one instant: the HTTP plane, then LangGraph (`langgraph dev`), {WORKERS} dispatch threads")
    try:
        http = bench_http()
        bench_langgraph(http)
    finally:
        common.reset()
    common.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault scenarios: real planes behind the fault proxy, the real scheduler, one table row each.

A scenario makes `occurrences` once-schedules due at T0, puts a plane (`keepalive`: the
loopback PlaneServer over HTTP/1.1; `http10`: the same over HTTP/1.0; `gunicorn`: the contract
as a WSGI app under gunicorn's sync workers) behind a FaultProxy, injects one fault, and runs
scheduler passes on a FakeClock (5 s apart; plane calls are real, on the dispatcher's own
lanes, and keep their real deadline; each pass's calls end before the clock moves on)
while an "agent" finishes each session the plane started and posts its signed callback.
It ends when every run is final, and reports what a person would check: sessions per
occurrence, final runs, their error codes, and the time from the occurrence to its final run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.test import Client

from config.signing import sign
from tests import polling
from tests.faults import wsgi_plane
from tests.faults.proxy import Fault, FaultProxy, accepts
from tests.plane_server import CALLBACK_PATH, PlaneServer

SECRET = "fault-suite-secret"
STEP = timedelta(seconds=5)
# The schedule's timeout in every scenario: no occurrence may take longer to reach a final run.
RUN_TIMEOUT_SECONDS = 600
GIVE_UP = timedelta(seconds=RUN_TIMEOUT_SECONDS * 2)

FAULTS = [
    "none",
    "connection refused",
    "reset before the request",
    "reset after the request",
    "answer after the deadline",
    "headers, then a stalled body",
    "dripping body",
    "502 from the proxy",
    "503 from the proxy",
    "504 from the proxy",
    "plane down 2 minutes",
    "callback lost",
    "callback before the create answer",
]
# Fault -> the error codes its occurrences' failed attempts may carry (none: one run, a success).
# A reset before the request is sent may be seen while connecting (nothing sent: a definitive
# failure) or after writing (outcome unknown: sent again with the same key); both are right.
FAILED_ATTEMPT_CODES = {
    "connection refused": {"plane_unreachable"},
    "plane down 2 minutes": {"plane_unreachable"},
    "reset before the request": {"plane_unreachable"},
}


# --- the planes ---------------------------------------------------------------------------------


class _InProcessPlane:
    def __init__(self, *, http10: bool):
        self.server = PlaneServer(secret=SECRET, http10=http10).start()
        self.port = self.server.port

    def sessions(self) -> list[dict]:
        with self.server.lock:
            return [s.body() for s in self.server.sessions.values()]

    def complete(self, session_id: str) -> bytes:
        self.server.complete(session_id, "success")
        return self.server.callback_body(session_id)

    def stop(self) -> None:
        self.server.stop()


class _GunicornPlane:
    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="gunicorn-plane-")
        self.db = os.path.join(self._dir.name, "plane.sqlite3")
        wsgi_plane.connect(self.db).close()
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "PLANE_DB": self.db}
        self._log = open(os.path.join(self._dir.name, "gunicorn.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{self.port}",
             "--chdir", str(_ROOT), "tests.faults.wsgi_plane:app"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        polling.wait_until(lambda: accepts("127.0.0.1", self.port), deadline=20, what="gunicorn to listen")

    def sessions(self) -> list[dict]:
        return wsgi_plane.sessions(self.db)

    def complete(self, session_id: str) -> bytes:
        return wsgi_plane.complete(self.db, session_id)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()
        self._dir.cleanup()


_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
PLANES = {"keepalive": lambda: _InProcessPlane(http10=False), "http10": lambda: _InProcessPlane(http10=True), "gunicorn": _GunicornPlane}


# --- one scenario -------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    plane: str
    occurrences: int
    sessions: list[int] = field(default_factory=list)  # per occurrence
    final_runs: int = 0
    runs: int = 0
    seconds_to_final: list[float] = field(default_factory=list)  # per occurrence, scheduler time
    codes: set = field(default_factory=set)  # error codes of the failed attempts
    last_statuses: set = field(default_factory=set)  # the last attempt of each occurrence

    @property
    def p99(self) -> float:
        ordered = sorted(self.seconds_to_final)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def post_callback(body: bytes):
    return Client().post(CALLBACK_PATH, data=body, content_type="application/json", HTTP_X_SIGNATURE=sign(SECRET, body))


def run_scenario(fault: str, plane_kind: str, occurrences: int, *, settings) -> Row:
    """Run one fault against one plane; needs a PostgreSQL test database (transaction=True)."""
    from config import clock
    from config.clock import FakeClock
    from runs.models import TERMINAL_STATUSES, ScheduleRun
    from runs.scheduler import Scheduler
    from tests.constants import T0
    from tests.factories import clone_schedules, make_agent, make_org, make_schedule

    plane = PLANES[plane_kind]()
    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    settings.EXECUTION_PLANE = "http"
    settings.EXECUTION_PLANE_URL = proxy.url
    settings.EXECUTION_PLANE_SECRET = SECRET
    deadline = settings.EXECUTION_PLANE_TIMEOUT_SECONDS
    org = make_org(f"faults-{plane_kind}", max_concurrent_runs=max(10, occurrences))
    template = make_schedule(
        org, make_agent(org), schedule_type="once", run_at=T0, now=T0 - timedelta(hours=1),
        timeout_seconds=RUN_TIMEOUT_SECONDS, max_retries=3,
    )
    schedules = [template, *clone_schedules(template, occurrences - 1)]
    done: set[str] = set()
    lock = threading.Lock()
    stop_watching = threading.Event()

    def finish(session_id: str, callback: bool) -> None:
        with lock:
            if session_id in done:
                return
            done.add(session_id)
        body = plane.complete(session_id)
        if callback:
            post_callback(body)

    if fault == "callback before the create answer":
        # The agent finishes at once and its callback is applied before the create call is
        # answered (in the plane's handler for the in-process planes; the proxy holds the
        # gunicorn plane's answer while a watcher sends it).
        if isinstance(plane, _InProcessPlane):
            plane.server.on_session_start = lambda session: finish(session.session_id, True)
        else:
            proxy.inject(Fault.LATE_ANSWER, times=None, match="POST /sessions", delay=deadline * 0.6)
            watcher = threading.Thread(target=_watch, args=(plane, finish, stop_watching), daemon=True)
            watcher.start()
    _inject(proxy, fault, occurrences, deadline)

    fake = FakeClock(T0)
    # The callback view reads the process clock: the same fake one as the scheduler.
    clock_in_use = clock.use(fake)
    clock_in_use.__enter__()
    # The production lanes: creates on the dispatcher's event loop, reconcile's resends, polls
    # and cancels on its threads. Each pass's calls end (at their real deadlines) before the
    # fake clock moves on.
    scheduler = Scheduler(replica_id=f"faults-{plane_kind}", batch_size=occurrences, poll_seconds=1, workers=4, clock=fake)
    now = T0
    try:
        while True:
            fake.set(now)
            if fault == "connection refused" and now >= T0 + STEP:
                proxy.clear()
            if fault == "plane down 2 minutes" and now >= T0 + timedelta(minutes=2):
                proxy.clear()
            scheduler.run_once(now)
            polling.wait_until(scheduler.settled, deadline=deadline * 4, what="the pass's plane calls")
            for session in plane.sessions():
                if session["status"] in ("queued", "running"):
                    finish(session["session_id"], callback=fault != "callback lost")
            runs = list(ScheduleRun.objects.filter(org=org).values("schedule_id", "status", "error_code", "attempt", "finished_at"))
            if runs and len({r["schedule_id"] for r in runs}) == occurrences and all(r["status"] in TERMINAL_STATUSES for r in runs):
                break
            if now - T0 > GIVE_UP:
                raise AssertionError(f"{fault} on {plane_kind}: runs not final after {GIVE_UP}: {runs}")
            now += STEP
    finally:
        clock_in_use.__exit__(None, None, None)
        stop_watching.set()
        scheduler.shutdown(wait=True)
        proxy.stop()
        sessions = plane.sessions()
        plane.stop()

    row = Row(fault, plane_kind, occurrences)
    for schedule in schedules:
        mine = sorted((r for r in runs if r["schedule_id"] == schedule.pk), key=lambda r: r["attempt"])
        row.sessions.append(sum(1 for s in sessions if s["job_run_id"].startswith(schedule.pk.hex)))
        row.runs += len(mine)
        row.final_runs += sum(1 for r in mine if r["status"] in TERMINAL_STATUSES)
        row.seconds_to_final.append(max((r["finished_at"] - T0).total_seconds() for r in mine))
        row.codes |= {r["error_code"] for r in mine[:-1]}
        row.last_statuses.add((mine[-1]["status"], mine[-1]["error_code"]))
    return row


def _watch(plane, finish, stop) -> None:
    """Finish (with its callback) every session as soon as the plane has it."""
    from django.db import connection

    try:
        while not stop.wait(0.01):
            for session in plane.sessions():
                if session["status"] in ("queued", "running"):
                    finish(session["session_id"], True)
    finally:
        connection.close()


def _inject(proxy: FaultProxy, fault: str, n: int, deadline: float) -> None:
    creates = "POST /sessions"
    plan = {
        "connection refused": (Fault.REFUSE, {}),
        "plane down 2 minutes": (Fault.REFUSE, {}),
        "reset before the request": (Fault.RESET_BEFORE_REQUEST, {"times": n}),
        "reset after the request": (Fault.RESET_AFTER_REQUEST, {"times": n, "match": creates}),
        "answer after the deadline": (Fault.LATE_ANSWER, {"times": n, "match": creates, "delay": deadline * 2}),
        "headers, then a stalled body": (Fault.STALLED_BODY, {"times": n, "match": creates}),
        "dripping body": (Fault.DRIPPING_BODY, {"times": n, "match": creates, "delay": deadline / 10}),
        "502 from the proxy": (Fault.BAD_GATEWAY, {"times": n, "match": creates}),
        "503 from the proxy": (Fault.UNAVAILABLE, {"times": n, "match": creates}),
        "504 from the proxy": (Fault.GATEWAY_TIMEOUT, {"times": n, "match": creates}),
    }
    if fault in plan:
        kind, options = plan[fault]
        proxy.inject(kind, **options)


def check(row: Row) -> None:
    """What every fault must give: one session per occurrence, every run final, the last one
    a success, failed attempts only with the codes that prove no session, on time."""
    assert row.sessions == [1] * row.occurrences, f"{row.fault} on {row.plane}: sessions per occurrence {row.sessions}"
    assert row.final_runs == row.runs, f"{row.fault} on {row.plane}: {row.runs - row.final_runs} runs not final"
    assert row.last_statuses == {("success", "")}, f"{row.fault} on {row.plane}: last attempts {row.last_statuses}"
    assert row.codes <= FAILED_ATTEMPT_CODES.get(row.fault, set()), f"{row.fault} on {row.plane}: failed with {row.codes}"
    assert max(row.seconds_to_final) <= RUN_TIMEOUT_SECONDS, f"{row.fault} on {row.plane}: {max(row.seconds_to_final)} s"


def table(rows: list[Row]) -> str:
    head = f"{'fault':36} {'plane':10} {'occurrences':>11} {'sessions/occurrence':>19} {'final runs':>12} {'p99 to final':>13}"
    lines = [head, "-" * len(head)]
    for row in rows:
        per = sorted(set(row.sessions))
        spo = "1" if per == [1] else ",".join(map(str, per))
        lines.append(
            f"{row.fault:36} {row.plane:10} {row.occurrences:>11} {spo:>19} {f'{row.final_runs}/{row.runs}':>12} {f'{row.p99:.0f} s':>13}"
        )
    return "\n".join(lines)

"""The scheduler loop: fire, dispatch, reconcile, beat; then wait.

Each step is a method that takes `now` and touches only the database (and the dispatcher's
thread pool), so tests drive `run_once(now)` with a fake clock and never sleep. `run_forever`
adds the waiting: on a `threading.Event`, until the earliest `next_run_at`, the poll interval,
a PostgreSQL NOTIFY on `schedules_changed`, or a stop request, whichever comes first.

Several replicas may run against one PostgreSQL without a leader: firing claims rows with
SKIP LOCKED, and every write is keyed by the deterministic `job_run_id`. On SQLite run one.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Exists

from config import clock as clock_module
from runs import calendar_data
from runs.alerts.delivery import deliver_due, deliver_due_in_thread
from runs.alerts.stall import health_alerts, scheduler_health
from runs.dispatch import Dispatcher
from runs.firing import fire_due
from runs.models import ACTIVE_STATUSES, SchedulerHeartbeat, ScheduleRun
from runs.reconcile import reconcile as reconcile_runs
from runs.retire import release_leases
from schedules.models import Schedule
from schedules.notify import ALERTS_DUE, CHANNEL

log = structlog.get_logger("runs.scheduler")

# When a due row was left unclaimed (another replica holds it), look again this soon rather
# than spin; the other replica's commit moves it forward anyway.
LOCKED_RETRY_SECONDS = 0.2
LISTEN_RECONNECT_SECONDS = 5.0
# After a pass that handed runs to the dispatcher, look again this soon: its pool takes a
# bounded backlog, so a large firing is dispatched over several passes, and waiting a full
# poll interval between them would cap end-to-end throughput at one backlog per poll.
DISPATCH_RECHECK_SECONDS = 0.02
# While a firing step goes on, dispatch between its batches at most this often (see
# Scheduler._between_batches).
DISPATCH_WHILE_FIRING_SECONDS = 5.0
# The heartbeat is written at most this often: its readers think in tens of seconds
# (SCHEDULER_STALL_SECONDS), and an idle replica should cost one query per poll, not two.
BEAT_EVERY_SECONDS = 5.0
# ...but while the counters move (firing, dispatching) at most this often, so the fired and
# dispatched totals an operator reads stay fresh.
BEAT_BUSY_SECONDS = 1.0


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Look:
    """What a pass's one query saw (`Scheduler.look`)."""

    next_due: datetime | None  # the earliest next_run_at of an enabled schedule; None: none is armed
    runs_active: bool  # whether any run is queued or running

    def due(self, now: datetime) -> bool:
        return self.next_due is not None and self.next_due <= now


@dataclass(frozen=True)
class Pass:
    """One pass: its time, its look (None when the look failed) and what each step did.

    `steps` maps a step's name to its count, None when it failed; `beat` is there only when
    the pass wrote the heartbeat.
    """

    now: datetime
    look: Look | None
    steps: dict


class Scheduler:
    def __init__(
        self,
        replica_id: str | None = None,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
        workers: int | None = None,
        clock=None,
        client=None,
    ):
        self.replica_id = replica_id or default_replica_id()
        self.batch_size = batch_size or settings.SCHEDULER_BATCH_SIZE
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.SCHEDULER_POLL_SECONDS
        # 0 calls the plane inline in the loop's thread: deterministic, for tests only.
        self.workers = settings.SCHEDULER_WORKERS if workers is None else workers
        self.clock = clock or clock_module.get_clock()
        self.client = client
        self.started_at: datetime | None = None
        self.fired_total = 0
        self.dispatched_total = 0
        self.last_error = ""
        self.passes = 0
        self._dispatcher = None
        self._last_reconcile: datetime | None = None
        self._last_beat: datetime | None = None
        self._last_alert_check: datetime | None = None
        self._deliveries: threading.Thread | None = None  # the alert deliveries in flight
        self._beat_totals: tuple[int, int] | None = None
        self._wake = threading.Event()
        # Set by a NOTIFY: a schedule changed (e.g. was disabled), so the next reconcile runs
        # whatever the poll interval says and cancels its waiting runs within a pass.
        self._schedules_changed = threading.Event()
        # Set by a NOTIFY 'alerts' (a test alert was queued): the next pass runs the alerts step.
        self._alerts_due = threading.Event()
        self._stop: threading.Event | None = None
        # Set while the NOTIFY listener is subscribed (tests wait for it before notifying).
        self.listening = threading.Event()

    # --- steps ---------------------------------------------------------------------------

    def look(self, now: datetime) -> Look:
        """The earliest next_run_at of an enabled schedule, and whether any run is queued or running.

        The one place that asks when the next schedule is due: a pass and its wait. One indexed
        query (the head of `schedule_due_idx` and an EXISTS on `run_active_by_schedule`, both
        flat in the number of schedules and of past runs), so an idle pass costs this and
        nothing else: no claim transaction when nothing is due, no dispatch or reconcile
        queries when no run is active, and the wake-up time for free.
        """
        any_active = Exists(ScheduleRun.objects.filter(status__in=ACTIVE_STATUSES))
        row = (
            Schedule.objects.filter(enabled=True, next_run_at__isnull=False)
            .order_by("next_run_at")
            .annotate(runs_active=any_active)
            .values_list("next_run_at", "runs_active")
            .first()
        )
        if row is None:
            # No schedule is armed: the EXISTS had no row to ride on.
            return Look(next_due=None, runs_active=ScheduleRun.objects.filter(status__in=ACTIVE_STATUSES).exists())
        return Look(next_due=row[0], runs_active=bool(row[1]))

    def fire(self, now: datetime, look: Look) -> int:
        """Fire every due schedule, when the pass's look found one; returns the run rows this replica wrote."""
        if not look.due(now):
            return 0
        # Calls still in flight from earlier go on gently meanwhile.
        dispatcher = self._get_dispatcher()
        dispatcher.firing(True)
        try:
            result = fire_due(
                now=now,
                batch_size=self.batch_size,
                replica_id=self.replica_id,
                on_batch=self._between_batches(now),
                keep_going=self._keep_going,
                # SQLite takes one writer at a time.
                threads=settings.SCHEDULER_FIRING_THREADS if connection.vendor == "postgresql" else 1,
            )
        finally:
            dispatcher.firing(False)
        self.fired_total += result.written
        if result.claimed:
            log.info(
                "scheduler.fired",
                claimed=result.claimed,
                queued=result.queued,
                skipped=result.skipped,
                finished=result.finished,
                flagged=result.flagged,
                collisions=result.collisions,
                batches=result.batches,
                seconds=round(result.seconds, 4),
            )
        return result.written

    def dispatch(self, now: datetime) -> int:
        """Hand ready queued runs to the dispatcher's thread pool; returns how many."""
        submitted = self._get_dispatcher().dispatch_ready(now=now)
        self.dispatched_total += submitted
        return submitted

    def reconcile(self, now: datetime) -> int:
        """Timeouts, expired leases, waiting runs that may not start, polling the plane (at most
        once per poll interval, or at once after a NOTIFY)."""
        recent = self._last_reconcile is not None and (now - self._last_reconcile).total_seconds() < self.poll_seconds
        if recent and not self._schedules_changed.is_set():
            return 0
        self._schedules_changed.clear()
        self._last_reconcile = now
        dispatcher = self._get_dispatcher()
        # Cancels and polls are plane calls: on the pool, so a slow plane never holds the loop.
        return reconcile_runs(
            now=now, replica_id=self.replica_id, client=self.client or dispatcher.client, submit=dispatcher.submit
        )

    def beat(self, now: datetime, *, stopped: bool = False) -> None:
        """Upsert this replica's heartbeat row (one statement). `stopped`: the last beat of a clean
        stop, which retires the row; any other beat (a restart under the same name) clears it."""
        row = SchedulerHeartbeat(
            replica_id=self.replica_id,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=self.started_at or now,
            last_beat_at=now,
            fired_total=self.fired_total,
            dispatched_total=self.dispatched_total,
            last_error=self.last_error,
            stopped_at=now if stopped else None,
        )
        SchedulerHeartbeat.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["replica_id"],
            update_fields=[
                "hostname", "pid", "started_at", "last_beat_at", "fired_total", "dispatched_total", "last_error", "stopped_at"
            ],
        )
        self._last_beat = now
        self._beat_totals = (self.fired_total, self.dispatched_total)

    def check_alerts(self, now: datetime) -> int:
        """The others' health (stalled-scheduler alerts), then the alert deliveries due.

        On its own timer (SCHEDULER_ALERT_CHECK_SECONDS), so an idle pass stays at one query:
        a stalled replica cannot report itself, so every live one looks at them all.

        Deliveries (webhook and mail calls) go to a thread of their own, one batch at a time, so
        an unreachable webhook never makes schedules late. Returns the attempts made inline:
        all of them with `workers=0` (tests, as for plane calls), otherwise 0.
        """
        self._last_alert_check = now
        with transaction.atomic():
            # This replica is alive whatever its last written beat says (the first pass has none).
            health_alerts(scheduler_health(now=now, alive=self.replica_id))
            calendar_data.resolve_covered(now=now)
        if not self.workers:
            return deliver_due(now=now)
        if self._deliveries is None or not self._deliveries.is_alive():
            self._deliveries = deliver_due_in_thread(now=now, name=f"alerts-{self.replica_id}")
        return 0

    def run_once(self, now: datetime | None = None) -> Pass:
        """One pass of every step. A failing step is logged and the others still run.

        Dispatch and reconcile only act on queued or running runs: when the pass's look found
        none (and firing wrote none), they are skipped. Runs queued elsewhere meanwhile (a
        run-now, a retry) are seen by the next pass's look.
        """
        now = now or self.clock.now()
        if self.started_at is None:
            self.started_at = now
        close_old_connections()
        self.passes += 1
        error_before = self.last_error
        # The look is the first half of firing: its failure is the fire step's.
        look = self._guarded("fire", self.look, now)
        steps = {"fire": None if look is None else self._guarded("fire", self.fire, now, look)}
        # Unknown (the look failed) counts as active: better a wasted query than a stuck run.
        busy = look is None or look.runs_active or bool(steps["fire"])
        for name, step in (("dispatch", self.dispatch), ("reconcile", self.reconcile)):
            steps[name] = self._guarded(name, step, now) if busy else 0
        if self._alert_check_due(now):
            steps["alerts"] = self._guarded("alerts", self.check_alerts, now)
        if self._beat_due(now) or self.last_error != error_before:
            steps["beat"] = self._guarded("beat", self.beat, now)
        return Pass(now=now, look=look, steps=steps)

    def wait_seconds(self, done: Pass) -> float:
        """How long to wait after the pass `done`: until the earliest next_run_at, within [0, poll]."""
        look = done.look
        if look is None or look.due(done.now):
            # The look failed, or firing moved next_run_at since: look again. Otherwise what
            # the pass saw still holds (a schedule edited since wakes the loop through NOTIFY).
            try:
                look = self.look(done.now)
            except DatabaseError as exc:
                log.error("scheduler.database_error", step="wait", error=str(exc).strip()[:500])
                close_old_connections()
                return self.poll_seconds
        earliest = look.next_due
        if earliest is None:
            return self.poll_seconds
        if earliest <= done.now:
            # Due at our claim but not claimed: another replica holds it.
            return min(self.poll_seconds, LOCKED_RETRY_SECONDS)
        until = (earliest - self.clock.now()).total_seconds()
        return max(0.0, min(self.poll_seconds, until))

    # --- the loop ------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Pass after pass until `stop_event` is set; the pass in hand always completes."""
        self._stop = stop_event
        structlog.contextvars.bind_contextvars(replica=self.replica_id)
        self.started_at = self.clock.now()
        log.info(
            "scheduler.started",
            batch_size=self.batch_size,
            poll_seconds=self.poll_seconds,
            workers=self.workers,
            database=connection.vendor,
        )
        # Event.wait takes one event: a stop request and a NOTIFY both arrive as `_wake`.
        threading.Thread(target=self._wake_on_stop, name="scheduler-stop-watch", daemon=True).start()
        listener = None
        if connection.vendor == "postgresql":
            listener = threading.Thread(target=self._listen, name="scheduler-listen", daemon=True)
            listener.start()
        try:
            while not stop_event.is_set():
                # Cleared before the pass, so a NOTIFY that lands during it triggers another.
                self._wake.clear()
                done = self.run_once(self.clock.now())
                if stop_event.is_set():
                    break
                wait = self.wait_seconds(done)
                if done.steps.get("dispatch"):
                    wait = min(wait, DISPATCH_RECHECK_SECONDS)
                self._wake.wait(wait)
        finally:
            # A stop request is a clean stop: retire. Anything else leaving the loop is a crash,
            # which must read as one (the heartbeat goes stale).
            self.shutdown(retire=stop_event.is_set())
            if listener is not None:
                listener.join(timeout=LISTEN_RECONNECT_SECONDS)
            log.info("scheduler.stopped", fired_total=self.fired_total, dispatched_total=self.dispatched_total)
            structlog.contextvars.unbind_contextvars("replica")

    def settled(self) -> bool:
        """Whether every plane call the passes so far started has ended and been written."""
        return self._dispatcher is None or self._dispatcher.idle()

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, wait: bool = True, retire: bool = True) -> None:
        """Let the dispatcher finish the plane calls in flight, then write a last heartbeat.

        `retire` (a clean stop): give back the queued runs still leased to this replica and
        mark the heartbeat stopped, so nothing reads as a fault (runs/retire.py). Leases are
        given back only when the calls in flight were waited for.
        """
        drained = True
        if self._dispatcher is not None:
            drained = self._guarded("shutdown", lambda: self._dispatcher.shutdown(wait=wait) or True) and wait
            self._dispatcher = None
        if retire and drained:
            self._guarded("shutdown", lambda: release_leases(replica_id=self.replica_id))
        self._guarded("beat", lambda: self.beat(self.clock.now(), stopped=retire))
        close_old_connections()

    # --- internals -----------------------------------------------------------------------

    def _guarded(self, name: str, step, *args):
        try:
            return step(*args)
        except DatabaseError as exc:
            # The database may be restarting or unreachable: log, drop a broken connection,
            # and try again next pass rather than die (a supervisor restart loop helps no one).
            self._record_error(name, exc)
            log.error("scheduler.database_error", step=name, error=str(exc).strip()[:500])
            close_old_connections()
        except Exception as exc:  # noqa: BLE001 - one failing step must not stop the loop
            self._record_error(name, exc)
            log.exception("scheduler.step_failed", step=name)
        return None

    def _record_error(self, name: str, exc: Exception) -> None:
        stamp = self.clock.now().isoformat()
        self.last_error = f"{stamp} {name}: {type(exc).__name__}: {exc}".strip()[:2000]

    def _keep_going(self) -> bool:
        # Between batches: a stop request ends the firing step after the batch in hand.
        return self._stop is None or not self._stop.is_set()

    def _get_dispatcher(self):
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(replica_id=self.replica_id, workers=self.workers, client=self.client)
        return self._dispatcher

    def _between_batches(self, now: datetime):
        """What firing calls after each committed batch: a dispatch, at most once every
        DISPATCH_WHILE_FIRING_SECONDS of firing.

        A burst is dispatched once it is committed (the pass's dispatch step, right after
        firing): every plane call made while firing runs takes CPU from it (the scheduler's,
        the database's and the plane's, which share the machine's cores). Sending a
        10,000-run burst's calls as its batches committed made the last row commit 1.0-1.25 s
        after the instant instead of 0.6-0.8 s, and the last session was not accepted any
        sooner. The cap keeps a very long firing step (a backlog of a million) from holding
        every plane call until it ends.
        """
        last = time.monotonic()

        def between(_batch) -> None:
            nonlocal last
            if time.monotonic() - last >= DISPATCH_WHILE_FIRING_SECONDS:
                self._guarded("dispatch", self.dispatch, now)
                last = time.monotonic()

        return between

    def _alert_check_due(self, now: datetime) -> bool:
        if self._alerts_due.is_set():
            self._alerts_due.clear()
            return True
        last = self._last_alert_check
        return last is None or (now - last).total_seconds() >= settings.SCHEDULER_ALERT_CHECK_SECONDS

    def _beat_due(self, now: datetime) -> bool:
        if self._last_beat is None:
            return True
        since = (now - self._last_beat).total_seconds()
        moved = self._beat_totals != (self.fired_total, self.dispatched_total)
        return since >= BEAT_EVERY_SECONDS or (moved and since >= BEAT_BUSY_SECONDS)

    def _wake_on_stop(self) -> None:
        self._stop.wait()
        self._wake.set()

    def _listen(self) -> None:
        """LISTEN on a dedicated connection and turn each NOTIFY into a wake-up."""
        import psycopg

        # Django's own parameters (OPTIONS such as sslmode included), on a dedicated
        # connection: LISTEN needs autocommit and a socket nobody else reads.
        params = {
            key: value
            for key, value in connection.get_connection_params().items()
            if key not in ("cursor_factory", "context", "prepare_threshold")
        }
        while not self._stop.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    log.debug("scheduler.listening", channel=CHANNEL)
                    while not self._stop.is_set():
                        # A timeout, so a stop request is noticed within a second.
                        for note in conn.notifies(timeout=1.0, stop_after=1):
                            if note.payload == ALERTS_DUE:
                                self._alerts_due.set()  # a test alert waits: its step runs now
                            else:
                                self._schedules_changed.set()
                            self._wake.set()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("scheduler.listen_failed", error=str(exc).strip()[:300])
                self._stop.wait(LISTEN_RECONNECT_SECONDS)


__all__ = ["Look", "Pass", "Scheduler", "default_replica_id"]

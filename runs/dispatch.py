"""The dispatcher's worker pool: hand admitted runs to the plane, record what it answered.

What may start is admission's business (runs/admission.py); this is the machinery. Status
stays `queued` until the plane accepts the run: a worker thread calls the plane and then
moves the run to `running` with its session (or to `failed` with an error code, which
queues the retry, when the plane surely did not start it; when it may have, the run keeps its
attempt and is sent again with the same key: runs/services/ambiguity.py). A dispatcher that dies in between leaves a leased `queued` run whose
lease expires; it is dispatched again with the same `job_run_id`, which the plane treats as
an idempotency key, so the crash never starts a second session.

Plane calls run off the scheduler loop, so a slow plane never holds the loop that fires
schedules: for a plane client that speaks asyncio (the HTTP plane), on one event loop with
`workers` calls in flight and a thread that writes their answers in batches (the burst lane,
runs/dispatch_loop.py); for the others (local, LangGraph), in a pool of `workers` threads.
`workers=0` runs them inline, for tests. The backlog follows the plane's pace, and the
`running` writes are batched.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError, connections

from runs import admission
from runs.dispatch_loop import EventLoopLane, Lapsed
from runs.models import ScheduleRun
from runs.plane import PlaneError, PlaneStatus, StartResult, get_client
from runs.result_writes import ResultWriter
from runs.services import ambiguity, lifecycle

log = structlog.get_logger("runs.dispatch")
_INFO_LOGS = logging.getLogger("runs.dispatch")

# Leased-but-not-started runs a dispatcher keeps per worker thread. An admission costs the
# same handful of queries whatever its size, so while the plane answers quickly a deep
# backlog is what lets dispatch keep up with firing. But a run still waiting in the pool
# when its lease ends is given up (another dispatcher may own it by then), so the depth
# follows the plane's pace: the whole backlog must drain within LEASE_SHARE of the lease.
MAX_BACKLOG_PER_WORKER = 256
LEASE_SHARE = 0.25
# ...and no more than the threads start in this long: a replica that admitted a whole burst
# at once left the other replicas nothing to dispatch (two replicas were slower than one).
ADMIT_AHEAD_SECONDS = 2.0
# ...and one admission takes at most this many, so that the next one is written while the
# calls of the last go on. Admissions of up to 4,000 (one of 2,000 took 0.19 s) left the lane
# dry while they were written; the candidates query reads only the oldest ready runs, so a
# smaller lot costs less.
ADMIT_LOT = 1000
# Until plane calls have been timed, the depth is this (the fixed depth of earlier releases).
INITIAL_BACKLOG_PER_WORKER = 8
# Weight of the newest call in the running average of plane call times.
CALL_TIME_WEIGHT = 0.1


class _Elapsed:
    """The time a worker records: the dispatch pass's `now` plus the real time since.

    So the times written (started_at, finished_at of a failed start) follow whatever clock
    the caller runs on, a FakeClock included, without the worker reading a clock of its own.
    """

    def __init__(self, now: datetime):
        self._now = now
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._now + timedelta(seconds=time.monotonic() - self._t0)


class Dispatcher:
    def __init__(self, *, replica_id: str, workers: int, client=None, lease_seconds: float | None = None):
        self.replica_id = replica_id
        self.workers = max(0, int(workers))
        self.client = client if client is not None else get_client()
        self.lease_seconds = lease_seconds if lease_seconds is not None else settings.SCHEDULER_LEASE_SECONDS
        self._pool = (
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"dispatch-{replica_id}")
            if self.workers
            else None
        )
        self._inflight = 0
        self._lock = threading.Lock()
        # Refill: when a pass filled all its room there is probably more ready work, so a
        # worker that finds the pool running low admits the next lot itself instead of
        # leaving the pool idle until the scheduler's next pass (up to a poll interval away).
        self._more = False
        self._closing = False
        self._pass_clock: _Elapsed | None = None
        self._admit_lock = threading.Lock()
        self.submitted_total = 0
        # Plane answers waiting to be written as `running`, in batches (see _record_accepted).
        self._accepted: list[lifecycle.Accepted] = []
        # Results and failures to record, tried again until they land (runs.result_writes).
        self.results = ResultWriter()
        self._flush_lock = threading.Lock()
        # Running average of a plane call's duration (seconds), which sets the backlog depth.
        self._call_seconds = min(self.lease_seconds * LEASE_SHARE, ADMIT_AHEAD_SECONDS) / INITIAL_BACKLOG_PER_WORKER
        # Creates go to the event loop when the client speaks asyncio (reconcile's calls still
        # go to the pool: they are few).
        self._lane = (
            EventLoopLane(self, name=f"dispatch-{replica_id}")
            if self._pool is not None and callable(getattr(self.client, "start_async", None)) and not self.client.synchronous
            else None
        )

    # --- the step ------------------------------------------------------------------------

    def dispatch_ready(self, *, now: datetime) -> int:
        """Admit and lease what fits, hand the plane calls to the pool; returns how many."""
        if self._closing:
            return 0
        # One admission at a time: a pass's and a refill's side by side saw the same
        # candidates, and the one that found them taken (0 of its room) decided that nothing
        # more was ready, so no refill came until the next pass, a poll interval later.
        with self._admit_lock:
            return self._admit(now)

    def _admit(self, now: datetime) -> int:
        if self.results.kept:
            # Before reconcile's timeouts could give up on a run whose agent has finished.
            self.results.write_kept()
        pass_clock = self._pass_clock = _Elapsed(now)
        room = min(self._room(), ADMIT_LOT)
        if room <= 0:
            return 0
        submitted = 0
        leased = admission.admit(
            admission.candidates(now, room=room), now=now, limit=room, replica_id=self.replica_id,
            lease_seconds=self.lease_seconds,
        )
        if self._lane is not None:
            with self._lock:
                self._inflight += len(leased)
            if self._lane.launch(leased, pass_clock):
                submitted = len(leased)
            else:
                # Stopping: given back with the replica's other leases (runs/retire.py).
                self.calls_done(len(leased))
        else:
            for run in leased:
                self._submit(self._start, run, pass_clock)
                submitted += 1
        with self._lock:
            self._more = self._pool is not None and submitted >= room
            self.submitted_total += submitted
        return submitted

    def firing(self, on: bool) -> None:
        """The scheduler's thread fires (`on`) or has done: the burst lane calls gently meanwhile."""
        if self._lane is not None and not self._closing:
            self._lane.firing(on)

    def idle(self) -> bool:
        """No plane call in flight and no answer left to write (tests wait for it after a pass)."""
        with self._lock:
            return self._inflight == 0 and not self._accepted

    def submit(self, fn, *args) -> None:
        """Run `fn(*args)` on a worker thread (inline without workers): reconcile's plane calls."""
        self._submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; with `wait`, finish the plane calls in flight and close their connections."""
        if self._pool is None:
            self._last_writes()
            return
        self._closing = True
        if self._lane is not None:
            self._lane.stop(wait=wait)
        if wait:
            # One task per worker thread (the barrier keeps each on its own thread) closes that
            # thread's database connection, which would otherwise stay open.
            barrier = threading.Barrier(self.workers)

            def close_connection():
                try:
                    barrier.wait(timeout=5)
                except threading.BrokenBarrierError:
                    pass
                connections.close_all()

            for _ in range(self.workers):
                self._pool.submit(close_connection)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._pool = None
        close = getattr(self.client, "close", None)
        if wait and close is not None:
            close()  # the idle keep-alive connections to the plane: no call is in flight now
        self._last_writes()

    def _last_writes(self) -> None:
        if self.results.kept:
            try:
                self.results.write_kept()
            except DatabaseError:
                log.exception("dispatch.kept_results_unwritten", replica=self.replica_id)
            self.results.give_up()

    # --- the worker ----------------------------------------------------------------------

    def _record_accepted(self, item: lifecycle.Accepted) -> None:
        """Write this answer, and any others waiting, as `running` in one statement.

        Whoever holds the flush lock writes everything queued; a worker that finds the lock
        taken leaves its item to the holder, which looks again after releasing the lock, so
        nothing is stranded. Until written the run is a leased `queued` run: it still counts
        against the limits, and a crash in between is recovered by the lease (same job_run_id).
        """
        with self._lock:
            self._accepted.append(item)
        self._flush_accepted()

    def _flush_accepted(self) -> None:
        while True:
            if not self._flush_lock.acquire(blocking=False):
                return
            try:
                with self._lock:
                    batch, self._accepted = self._accepted, []
                # Only under the lease each run was admitted with (see _start).
                lifecycle.run_mark_running_many(accepted=batch, lease_owner=self.replica_id)
            finally:
                self._flush_lock.release()
            with self._lock:
                if not self._accepted:
                    return

    def _depth(self) -> int:
        """Backlog per worker thread that drains within LEASE_SHARE of the lease, and within
        ADMIT_AHEAD_SECONDS, at the plane's pace."""
        if self.client.synchronous:
            # A synchronous plane holds a worker for the whole run: admit no more than can
            # start now, or the waiting ones would hold slots (and leases) without running.
            return 1
        drains_in = min(self.lease_seconds * LEASE_SHARE, ADMIT_AHEAD_SECONDS)
        fits = drains_in / max(self._call_seconds, 1e-4)
        return max(1, min(MAX_BACKLOG_PER_WORKER, int(fits)))

    def _room(self) -> int:
        if self._pool is None:
            return settings.SCHEDULER_BATCH_SIZE
        depth = self._depth()
        with self._lock:
            return self.workers * depth - self._inflight

    def timed_call(self, seconds: float) -> None:
        with self._lock:
            self._call_seconds += CALL_TIME_WEIGHT * (seconds - self._call_seconds)

    def _submit(self, fn, *args) -> None:
        pool = self._pool
        if pool is None:
            fn(*args)
            return
        with self._lock:
            self._inflight += 1
        try:
            future = pool.submit(self._guarded, fn, *args)
        except RuntimeError:
            # The pool shut down under a refill in flight: the runs it leased come back when
            # their leases end, with the same job_run_id.
            with self._lock:
                self._inflight -= 1
            log.warning("dispatch.dropped_on_shutdown", replica=self.replica_id)
            return
        future.add_done_callback(self._done)

    def _done(self, _future) -> None:
        self.calls_done(1)

    def calls_done(self, count: int) -> None:
        """`count` runs left the backlog (their calls ended, or will not be made)."""
        with self._lock:
            self._inflight -= count
            inflight = self._inflight
        # Refilled as soon as a whole lot fits (a small backlog: while a quarter is left), so
        # the workers never run dry while the next admission is being written.
        backlog = self.workers * self._depth()
        low = backlog - inflight >= min(ADMIT_LOT, backlog - backlog // 4)
        # An admission under way (the scheduler's pass) leaves the room it did not fill to
        # the next call's end.
        if low and self._more and not self._closing and self._admit_lock.acquire(blocking=False):
            try:
                self._admit(self._pass_clock.now())
            except Exception:  # noqa: BLE001 - the scheduler's next pass tries again
                log.exception("dispatch.refill_failed", replica=self.replica_id)
                connections.close_all()
            finally:
                self._admit_lock.release()

    def _guarded(self, fn, *args) -> None:
        # Each worker thread keeps its database connection from task to task (a new
        # PostgreSQL connection per run would cost more than the run's own queries);
        # shutdown() closes them.
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a worker must survive any one run
            log.exception("dispatch.worker_failed", replica=self.replica_id)
            # The connection may be what broke: the next task on this thread reconnects.
            connections.close_all()

    def call_budget(self, run: ScheduleRun, now: datetime) -> float | None:
        """Seconds the plane call may take, all included; None when too little lease is left.

        A call that outlived its lease (a plane dripping its answer a byte at a time) let the
        next pass send the same run again, four times in one case. So a call gets half the
        lease (the http client also caps it at EXECUTION_PLANE_TIMEOUT_SECONDS) and must end
        a quarter of the lease before it expires, leaving time to write the answer under it.
        The backlog drains within LEASE_SHARE (a quarter) of the lease, so a run normally
        gets the whole half; one that waited longer gets less, and one left with less than
        half of that is not sent at all: its lease lapses and it goes again, same job_run_id.
        """
        full = self.lease_seconds / 2
        left = min(full, (run.lease_expires_at - now).total_seconds() - self.lease_seconds / 4)
        return left if left >= full / 2 else None

    def _start(self, run: ScheduleRun, clock: _Elapsed) -> None:
        """Call the plane for one leased run and record what it answered, while the lease holds."""
        bind = _bound(run)
        budget = self.call_budget(run, clock.now())
        if budget is None:
            # Waited in the pool too long: another dispatcher may own it by the time we'd answer.
            log.warning("run.lease_lapsed", replica=self.replica_id, **bind)
            return
        # Every write below is conditional on this lease: once it lapsed, the run is another
        # dispatch's business (reconcile released it, or a new admission took it).
        lease = (self.replica_id, run.lease_expires_at)

        def started(session_id: str) -> None:
            # Synchronous planes report the session before they run it: the run shows as
            # running (and counts against the limits as such) for as long as it takes.
            if not lifecycle.run_mark_running(run_id=run.pk, session_id=session_id, now=clock.now(), lease=lease):
                raise _NotOurs  # canceled, or its lease lapsed: the plane stops the agent

        called = time.monotonic()
        try:
            answer = self.client.start(run, on_started=started if self.client.synchronous else None, timeout=budget)
        except _NotOurs:
            log.info("run.not_started", reason="no longer queued under this dispatcher's lease", **bind)
            return
        except PlaneError as exc:
            self.timed_call(time.monotonic() - called)
            self._failed(run, clock, exc)
            return
        self.timed_call(time.monotonic() - called)
        if not self.client.synchronous:
            self._record_accepted(self._accepted_row(run, clock, answer))
        self._finished(run, clock, answer)

    def record_answers(self, answers: list[tuple]) -> None:
        """What the burst lane's calls came back with, [(run, clock, outcome)]: the accepted
        runs written as `running` in one statement, then the rest as the thread path does."""
        with self._lock:
            self._accepted.extend(
                self._accepted_row(run, clock, outcome) for run, clock, outcome in answers if isinstance(outcome, StartResult)
            )
        self._flush_accepted()
        for run, clock, outcome in answers:
            if isinstance(outcome, StartResult):
                self._finished(run, clock, outcome)
            elif isinstance(outcome, PlaneError):
                self._failed(run, clock, outcome)
            elif isinstance(outcome, Lapsed):
                log.warning("run.lease_lapsed", replica=self.replica_id, **_bound(run))
            # None: the call raised (logged where it did) or was canceled; the lease lapses.

    def _accepted_row(self, run: ScheduleRun, clock: _Elapsed, answer: StartResult) -> lifecycle.Accepted:
        if _INFO_LOGS.isEnabledFor(logging.INFO):
            # structlog runs its processors before the level filter: skip them when INFO is
            # off (about 5% of a worker's time per run).
            log.info("run.started", session_id=answer.session_id, plane_status=answer.status, **_bound(run))
        return lifecycle.Accepted(run.pk, answer.session_id, answer.message_id, clock.now(), run.lease_expires_at)

    def _failed(self, run: ScheduleRun, clock: _Elapsed, exc: PlaneError) -> None:
        bind = _bound(run)
        lease = (self.replica_id, run.lease_expires_at)
        log.warning("run.start_failed", error_code=exc.code, error=exc.message, **bind)
        # Failed, or kept for a resend when the plane may have started it (the ambiguity
        # rule: runs/services/ambiguity.py). Bound now: a write kept for a later pass runs
        # after the caller's `except` block has unbound `exc`.
        failed_at, error = clock.now(), exc
        self.results.write(lambda: ambiguity.run_after_create_error(run, error, now=failed_at, lease=lease), **bind)

    def _finished(self, run: ScheduleRun, clock: _Elapsed, answer: StartResult) -> None:
        """A result that came with the answer (a synchronous plane), or a repeated key for a
        session that ended: written now."""
        result = answer.result
        if result is None and answer.status in PlaneStatus.TERMINAL:
            # Finished already (a repeated key for a session that ended): fetch its result.
            run.session_id = answer.session_id
            try:
                result = self.client.poll(run)
            except PlaneError as exc:
                log.warning("run.poll_failed", error_code=exc.code, error=exc.message, **_bound(run))
                return
        if result is not None and result.terminal:
            # The agent has run (a synchronous plane): this write must land, or a timeout and
            # its retry would run the agent again.
            finished_at = clock.now()
            self.results.write(lambda: lifecycle.run_apply_plane_result(run, result, now=finished_at), **_bound(run))


def _bound(run: ScheduleRun) -> dict:
    return {"schedule_id": str(run.schedule_id), "job_run_id": run.job_run_id, "attempt": run.attempt}


class _NotOurs(Exception):
    """Raised from on_started when the run is no longer queued under our lease."""

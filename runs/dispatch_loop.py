"""The dispatcher's burst lane: plane calls on one event loop, their answers written in batches.

For a plane client that speaks asyncio (`start_async`: the HTTP plane), the dispatcher
(runs/dispatch.py) sends admitted runs here instead of to its worker threads. Two threads do
all the work, whatever the size of the burst:

- the **loop** thread keeps up to `workers` create calls in flight on keep-alive connections
  (config/transport_async.py) and does nothing else: no database, no blocking call;
- the **writer** thread takes every answer that came back since it last looked and records
  them together: the accepted runs as `running` in one statement, the failures through the
  ambiguity rule (runs/services/ambiguity.py), one by one as the worker threads did. It also
  admits the next lot when the lane runs low (the dispatcher's refill). While the scheduler's
  thread fires, only FIRING_CALLERS call.

Sixteen worker threads each blocking in a call spent more CPU handing the GIL to each other
than calling the plane; on one loop a call costs a tenth of that. Every rule of a plane call is
the thread path's: the call's budget from the lease, the lease held by every write, an unknown
outcome kept for a resend with the same key.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

import structlog
from django.db import connections

from runs.plane import PlaneError

log = structlog.get_logger("runs.dispatch")

# Seconds a clean stop waits for the calls in flight (each also ends at its own deadline).
DRAIN_SECONDS = 60.0
# Callers that go on while the scheduler's thread fires (calls admitted before, or by a very
# long firing step's dispatch): every call takes CPU that firing wants, so few, but not none.
FIRING_CALLERS = 2


class Lapsed:
    """The outcome of a run that waited past its lease's share before its call could start."""


class EventLoopLane:
    def __init__(self, dispatcher, *, name: str):
        self.dispatcher = dispatcher
        self.loop = asyncio.new_event_loop()
        # `workers` coroutines take the runs in turn: that many calls in flight, and no task
        # or semaphore per run.
        self._queue: asyncio.Queue = asyncio.Queue()
        self._callers: list[asyncio.Task] = []
        # Cleared while the scheduler's thread fires a burst: then only FIRING_CALLERS call.
        self._full_speed = asyncio.Event()
        self._full_speed.set()
        self._answers: deque = deque()
        self._answered = threading.Event()
        self._accepting = True
        self._accepting_lock = threading.Lock()
        self._stopping = False
        self._loop_thread = threading.Thread(target=self.loop.run_forever, name=f"{name}-loop", daemon=True)
        self._writer = threading.Thread(target=self._write_answers, name=f"{name}-writes", daemon=True)
        self._loop_thread.start()
        self._writer.start()

    def launch(self, runs: list, clock) -> bool:
        """Start the plane calls of `runs` (leased, counted in flight); False once stopping
        (their leases are given back by the stop, same job_run_id)."""
        with self._accepting_lock:
            if not self._accepting:
                return False
            self.loop.call_soon_threadsafe(self._enqueue, runs, clock)
            return True

    def firing(self, on: bool) -> None:
        """While the scheduler's thread fires, few calls: it gets the GIL when it wants it."""
        self.loop.call_soon_threadsafe(self._full_speed.clear if on else self._full_speed.set)

    def wake(self) -> None:
        """Have the writer thread look for room (and admit) now."""
        self._answered.set()

    def stop(self, *, wait: bool) -> None:
        """Take no more runs; with `wait`, let the calls in flight end and their answers be
        written; then close the connections and both threads."""
        with self._accepting_lock:
            self._accepting = False
        if wait:
            try:
                asyncio.run_coroutine_threadsafe(self._drain(), self.loop).result(DRAIN_SECONDS)
            except Exception:  # noqa: BLE001 - a stuck call: its lease lapses, the run goes again
                log.exception("dispatch.drain_failed", replica=self.dispatcher.replica_id)
        else:
            self.loop.call_soon_threadsafe(self._cancel_all)
        self._stopping = True
        self._answered.set()
        self._writer.join(DRAIN_SECONDS if wait else 5)
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(5)
        except Exception:  # noqa: BLE001 - the process is stopping: its sockets close with it
            log.exception("dispatch.close_failed", replica=self.dispatcher.replica_id)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(5)
        if not self._loop_thread.is_alive():
            self.loop.close()

    async def _close(self) -> None:
        """End the idle callers and close the connections (nothing is in flight any more)."""
        for caller in self._callers:
            caller.cancel()
        await asyncio.gather(*self._callers, return_exceptions=True)
        close = getattr(self.dispatcher.client, "aclose", None)
        if close is not None:
            close()

    # --- the loop thread -------------------------------------------------------------------

    def _enqueue(self, runs: list, clock) -> None:
        if not self._callers:
            self._callers = [self.loop.create_task(self._caller(n)) for n in range(self.dispatcher.workers)]
        for run in runs:
            self._queue.put_nowait((run, clock))

    async def _caller(self, n: int) -> None:
        while True:
            if n >= FIRING_CALLERS and not self._full_speed.is_set():
                await self._full_speed.wait()
            run, clock = await self._queue.get()
            outcome = None
            try:
                outcome = await self._call(run, clock)
            except asyncio.CancelledError:
                raise  # a stop that did not wait: the lease lapses and the run goes again, same key
            except Exception:  # noqa: BLE001 - a bug in one call must not stop the others
                log.exception("dispatch.worker_failed", replica=self.dispatcher.replica_id, job_run_id=run.job_run_id)
            finally:
                self._answer(run, clock, outcome)
                self._queue.task_done()

    async def _call(self, run, clock):
        dispatcher = self.dispatcher
        budget = dispatcher.call_budget(run, clock.now())
        if budget is None:
            return Lapsed()
        called = time.monotonic()
        try:
            return await dispatcher.client.start_async(run, timeout=budget)
        except PlaneError as exc:
            return exc
        finally:
            dispatcher.timed_call(time.monotonic() - called)

    def _answer(self, run, clock, outcome) -> None:
        self._answers.append((run, clock, outcome))
        self._answered.set()

    async def _drain(self) -> None:
        # Runs from launches queued before the stop are in the queue by now (the loop runs
        # callbacks in order); each call ends at its own deadline.
        await self._queue.join()

    def _cancel_all(self) -> None:
        for caller in self._callers:
            caller.cancel()
        while not self._queue.empty():
            run, clock = self._queue.get_nowait()
            self._answer(run, clock, None)

    # --- the writer thread -----------------------------------------------------------------

    def _write_answers(self) -> None:
        dispatcher = self.dispatcher
        try:
            while True:
                self._answered.wait()
                self._answered.clear()
                batch = []
                while self._answers:
                    batch.append(self._answers.popleft())
                if batch:
                    try:
                        dispatcher.record_answers(batch)
                    except Exception:  # noqa: BLE001 - the runs' leases lapse and they go again, same key
                        log.exception("dispatch.answers_unwritten", replica=dispatcher.replica_id, count=len(batch))
                        connections.close_all()
                # Also with no answer (a wake-up): the refill that follows looks for room.
                dispatcher.calls_done(len(batch))
                # Looked at after the batch: the stop's wake-up may have come while it was written.
                if self._stopping and not self._answers:
                    return
        finally:
            connections.close_all()

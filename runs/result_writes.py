"""Writing what a plane call produced, so that one database blip never runs an agent twice.

A synchronous plane (the local one) has run the agent by the time its result is written: if
that write failed, the run stayed `running` until its timeout, and the retry ran the agent a
second time. So each write is tried again a few times at once, and one that still fails is
kept in memory and tried again at the start of every dispatch pass (before reconcile could
time the run out), until it lands. The writes are conditional UPDATEs, so writing one twice
(the first attempt committed but its answer was lost) changes nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import structlog
from django.db import DatabaseError, connection

from runs.plane.base import redact_credentials

log = structlog.get_logger("runs.dispatch")

# Pauses between the attempts made at once: a lock timeout or a failover is often over by then.
RESULT_WRITE_PAUSES = (0.05, 0.25, 1.0)


class ResultWriter:
    def __init__(self):
        self._kept: list[tuple[Callable[[], object], dict]] = []
        self._lock = threading.Lock()

    @property
    def kept(self) -> int:
        with self._lock:
            return len(self._kept)

    def write(self, write: Callable[[], object], **bind) -> bool:
        """Run `write()` (one service call); True when it landed, False when it was kept."""
        for pause in (0.0, *RESULT_WRITE_PAUSES):
            if pause:
                # A worker thread's own pause, never the scheduler loop's: there is no event
                # that says the database is back.
                time.sleep(pause)
            try:
                write()
                return True
            except DatabaseError as exc:
                log.warning("run.result_write_failed", error=redact_credentials(str(exc)).strip()[:300], **bind)
                _drop_broken_connection()
        with self._lock:
            self._kept.append((write, bind))
        log.error("run.result_kept", kept=self.kept, **bind)
        return False

    def write_kept(self) -> int:
        """Try each kept write once more; returns how many landed. Raises the database error
        (the rest stay kept) so the scheduler's pass reports it."""
        with self._lock:
            kept, self._kept = self._kept, []
        for done, (write, bind) in enumerate(kept):
            try:
                write()
            except DatabaseError:
                with self._lock:
                    self._kept[:0] = kept[done:]
                _drop_broken_connection()
                raise
            log.info("run.result_written_late", **bind)
        return len(kept)

    def give_up(self) -> None:
        """At shutdown: what is still kept is lost with the process; name the runs it concerns."""
        with self._lock:
            kept, self._kept = self._kept, []
        for _, bind in kept:
            log.error("run.result_lost", **bind)


def _drop_broken_connection() -> None:
    # A connection the error broke is replaced on the next query; inside a transaction (a
    # test's) the connection is the caller's to handle.
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()

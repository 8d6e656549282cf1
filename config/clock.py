"""The one injectable clock.

Business code takes `now` as an argument; only the outermost layer (a view, a management
command, the scheduler loop) asks this module for the time. Tests swap in a FakeClock.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta, timezone


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock that only moves when told to (thread-safe, so dispatcher threads agree)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


_clock: SystemClock | FakeClock = SystemClock()


def now() -> datetime:
    return _clock.now()


def get_clock():
    return _clock


@contextlib.contextmanager
def use(clock):
    """Swap the process clock for the duration of a block (tests)."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous

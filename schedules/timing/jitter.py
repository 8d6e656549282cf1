"""Jitter: a schedule's runs start a fixed, pseudo-random delay after their time.

When thousands of schedules share "09:00", an optional `jitter_seconds` spreads each one's
start over that window. The delay is a hash of the schedule and the occurrence, not a random
draw: every replica, every retry of the scheduler and the editor's preview compute the same
one, so a preview's times are the times runs start.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta


def jitter_delay(schedule_id, occurrence: datetime, jitter_seconds: int) -> timedelta:
    """The delay of `occurrence` (its nominal time, UTC) of schedule `schedule_id`: in
    [0, jitter_seconds), to the millisecond; zero without jitter."""
    if not jitter_seconds:
        return timedelta(0)
    # The instant in microseconds, so the zone object a datetime carries never changes the key.
    instant = round(occurrence.timestamp() * 1_000_000)
    key = f"{schedule_id}|{instant}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return timedelta(milliseconds=digest % (jitter_seconds * 1000))

"""Wake the scheduler early when a schedule changes.

The scheduler sleeps until the earliest `next_run_at` or its poll interval. A schedule created
or moved to fire sooner than that would otherwise wait for the next poll; on PostgreSQL the
loop LISTENs on this channel and runs a pass as soon as a NOTIFY arrives. On SQLite there is
no such channel and the poll interval alone bounds the delay.
"""

from __future__ import annotations

from django.db import connection

CHANNEL = "schedules_changed"


def notify_schedules_changed() -> None:
    """Send NOTIFY on PostgreSQL; do nothing elsewhere.

    NOTIFY is transactional in PostgreSQL (delivered on commit, dropped on rollback), but
    callers still send it from `transaction.on_commit` so the scheduler never wakes to read
    a row it cannot see yet.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {CHANNEL}")


ALERTS_DUE = "alerts"  # the payload of a NOTIFY that asks for the alerts step (a test alert)


def notify_alerts_due() -> None:
    """Wake the scheduler's alerts step now (PostgreSQL; elsewhere its timer alone)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {CHANNEL}, '{ALERTS_DUE}'")

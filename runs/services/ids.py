"""The ids of runs: the `job_run_id` sent to the plane as its Idempotency-Key, and the
`occurrence_key` that every attempt of one occurrence shares.

A run stores its occurrence key, so a retry's id and "the attempts of this occurrence" are
read from that column, never parsed back out of a job_run_id.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime


def scheduled_occurrence_key(schedule_id: uuid.UUID, scheduled_for: datetime) -> str:
    """The key of one scheduled occurrence: `<schedule hex>-<time>Z`."""
    # Cached by the wall-clock fields alone: equal instants in two zones compare equal, and
    # must not share a text.
    return f"{schedule_id.hex}-{_stamp(scheduled_for.replace(tzinfo=None))}Z"


@functools.lru_cache(maxsize=256)
def _stamp(wall: datetime) -> str:
    # A burst's thousands of occurrences share a handful of times: each is formatted once.
    return wall.strftime("%Y%m%dT%H%M%S")


def attempt_job_run_id(occurrence_key: str, attempt: int) -> str:
    """The job_run_id of `attempt` of an occurrence (every attempt of a scheduled one, and the
    retries of a manual one)."""
    return f"{occurrence_key}-{attempt}"


def scheduled_job_run_id(schedule_id: uuid.UUID, scheduled_for: datetime, attempt: int) -> str:
    """Deterministic id of one attempt at one occurrence.

    Two replicas that fire the same occurrence derive the same id and collide on the unique
    constraint, so only one row (and one execution-plane session) can exist.
    """
    return attempt_job_run_id(scheduled_occurrence_key(schedule_id, scheduled_for), attempt)


def manual_job_run_id(schedule_id: uuid.UUID, idempotency_key: str | None) -> str:
    """A run-now id (also its occurrence key): stable for a given Idempotency-Key, fresh otherwise."""
    if idempotency_key:
        digest = hashlib.sha256(f"{schedule_id.hex}:{idempotency_key}".encode()).hexdigest()[:24]
        return f"{schedule_id.hex}-manual-{digest}"
    return f"{schedule_id.hex}-manual-{uuid.uuid4().hex[:24]}"


def retry_job_run_id(run, attempt: int) -> str:
    """The job_run_id of `attempt` of the occurrence `run` belongs to.

    Scheduled occurrences keep the deterministic `<schedule>-<time>Z-<attempt>` form (the same
    as scheduled_job_run_id, so replicas agree); a manual run's id gets `-<attempt>` appended.
    """
    return attempt_job_run_id(run.occurrence_key, attempt)

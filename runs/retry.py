"""The one retry decision: whether a run is tried again, how, and when.

Everything that ends or interrupts an attempt asks `decide_retry` (the dispatcher after a
create call, `run_finish` for every failed or timed-out run, reconcile's polls and resends),
with the facts only: status, error code, attempt, the schedule's policy, whether the schedule
may run, and whether the plane may have started the attempt without telling us. Modelled on
procrastinate's `RetryStrategy.get_retry_decision`; docs/design.md section 4 has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runs.models import FAILURE_STATUSES, PERMANENT_ERRORS

DEFAULT_BACKOFF = (30, 60, 300, 900, 3600)


class RetryKind:
    NONE = "no_retry"  # the attempt's outcome stands
    SAME_ATTEMPT = "same_attempt"  # send the same attempt again (same job_run_id: the plane dedups)
    NEW_ATTEMPT = "new_attempt"  # queue attempt + 1 (a new job_run_id: a new session)


@dataclass(frozen=True)
class RetryPolicy:
    """A schedule's retry settings: at most `max_retries` new attempts, waiting `backoff[i]`
    seconds before the (i+1)-th (the last value repeats)."""

    max_retries: int = 3
    backoff: tuple[int, ...] = DEFAULT_BACKOFF

    @classmethod
    def of(cls, schedule) -> RetryPolicy:
        return cls(max_retries=schedule.max_retries, backoff=tuple(schedule.retry_backoff_seconds or DEFAULT_BACKOFF))

    def backoff_seconds(self, attempt: int) -> int:
        """Wait before the retry that follows `attempt` (1-based)."""
        return int(self.backoff[min(attempt, len(self.backoff)) - 1])


@dataclass(frozen=True)
class RetryDecision:
    kind: str
    at: datetime | None = None  # when to try (None for NONE)
    reason: str = ""

    @property
    def retries(self) -> bool:
        return self.kind != RetryKind.NONE


def decide_retry(
    *,
    status: str,
    error_code: str = "",
    attempt: int,
    policy: RetryPolicy,
    schedule_enabled: bool,
    now: datetime,
    outcome_unknown: bool = False,
    resend_after_seconds: float = 30.0,
) -> RetryDecision:
    """What to do after an attempt: no retry; the same attempt again at T; a new attempt at T.

    - `outcome_unknown` (the plane may have started the session: a timeout or reset after the
      request was sent, a 5xx, an unreadable 2xx): the SAME attempt again after
      `resend_after_seconds`, whatever else is true. A new attempt could start a second
      session; the same key cannot (the plane dedups it). The run's own timeout ends it.
      A disabled schedule does not stop this: it is finding out, not retrying.
    - a status that is not a failure (success, canceled, skipped): no retry.
    - an error every attempt would meet again (PERMANENT_ERRORS: a 4xx, an unconfigured
      agent, too much output): no retry.
    - a paused or disabled schedule: no retry.
    - `attempt` beyond the policy's `max_retries`: no retry.
    - otherwise a NEW attempt after the policy's back-off for `attempt`.
    """
    if outcome_unknown:
        return RetryDecision(RetryKind.SAME_ATTEMPT, now + timedelta(seconds=resend_after_seconds), "outcome unknown")
    if status not in FAILURE_STATUSES:
        return RetryDecision(RetryKind.NONE, reason="not a failure")
    if error_code in PERMANENT_ERRORS:
        return RetryDecision(RetryKind.NONE, reason="the same request would fail again")
    if not schedule_enabled:
        return RetryDecision(RetryKind.NONE, reason="schedule paused or disabled")
    if attempt > policy.max_retries:
        return RetryDecision(RetryKind.NONE, reason="retries used up")
    return RetryDecision(RetryKind.NEW_ATTEMPT, now + timedelta(seconds=policy.backoff_seconds(attempt)), "failed")

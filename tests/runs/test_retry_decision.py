"""runs.retry.decide_retry, the one retry decision, as a table: facts in, decision out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.retry import RetryKind, RetryPolicy, decide_retry
from tests.constants import NINE

POLICY = RetryPolicy(max_retries=3, backoff=(30, 60, 300))
NONE, SAME, NEW = RetryKind.NONE, RetryKind.SAME_ATTEMPT, RetryKind.NEW_ATTEMPT

# status, error_code, attempt, schedule enabled, outcome unknown -> kind, seconds until `at`
TABLE = [
    # Failures that prove the plane did not start it: a new attempt after the back-off.
    ("failed", "plane_unreachable", 1, True, False, NEW, 30),
    ("failed", "plane_unreachable", 2, True, False, NEW, 60),
    ("failed", "agent_failed", 3, True, False, NEW, 300),
    ("timeout", "timeout", 1, True, False, NEW, 30),
    ("failed", "plane_session_not_found", 1, True, False, NEW, 30),
    # Retries used up.
    ("failed", "agent_failed", 4, True, False, NONE, None),
    # Errors every attempt would meet again.
    ("failed", "plane_rejected", 1, True, False, NONE, None),
    ("failed", "agent_not_configured", 1, True, False, NONE, None),
    ("failed", "agent_output_too_large", 1, True, False, NONE, None),
    # Paused or disabled schedule.
    ("failed", "agent_failed", 1, False, False, NONE, None),
    ("timeout", "timeout", 1, False, False, NONE, None),
    # Not failures.
    ("success", "", 1, True, False, NONE, None),
    ("canceled", "", 1, True, False, NONE, None),
    # The plane may have started it: the same attempt again, whatever else holds.
    ("failed", "plane_timeout", 1, True, True, SAME, 10),
    ("failed", "plane_http_502", 4, True, True, SAME, 10),
    ("failed", "plane_bad_response", 1, False, True, SAME, 10),
]


@pytest.mark.parametrize(("status", "code", "attempt", "enabled", "unknown", "kind", "after"), TABLE)
def test_decide_retry(status, code, attempt, enabled, unknown, kind, after):
    decision = decide_retry(
        status=status, error_code=code, attempt=attempt, policy=POLICY, schedule_enabled=enabled,
        now=NINE, outcome_unknown=unknown, resend_after_seconds=10,
    )
    assert decision.kind == kind
    assert decision.at == (None if after is None else NINE + timedelta(seconds=after))
    assert decision.retries == (kind != NONE)


def test_the_last_backoff_value_repeats():
    policy = RetryPolicy(max_retries=10, backoff=(10, 20))
    assert [policy.backoff_seconds(n) for n in range(1, 6)] == [10, 20, 20, 20, 20]

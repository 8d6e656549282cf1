"""The fault suite: every fault of the plane's connection, against real servers behind the
fault proxy, with the scheduler on PostgreSQL. Each occurrence must end with exactly one
agent session, every run final with the right error code, none later than its timeout.

`make test` runs every fault against the keep-alive plane and a few against the HTTP/1.0 and
gunicorn planes; `make faults` (FAULTS_FULL=1) runs every fault on every plane, with more
occurrences, and prints the table (tests/faults/conftest.py).
"""

from __future__ import annotations

import os

import pytest

from tests.faults import harness

FULL = os.environ.get("FAULTS_FULL") == "1"
OCCURRENCES = 10 if FULL else 2

if FULL:
    CASES = [(fault, plane) for plane in harness.PLANES for fault in harness.FAULTS]
else:
    # The 2-minute outage is the refused connection, longer: `make faults` runs it.
    CASES = [(fault, "keepalive") for fault in harness.FAULTS if fault != "plane down 2 minutes"] + [
        ("none", "http10"),
        ("reset after the request", "http10"),
        ("none", "gunicorn"),
        ("504 from the proxy", "gunicorn"),
    ]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("fault", "plane"), CASES, ids=[f"{p}: {f}" for f, p in CASES])
def test_every_occurrence_ends_with_exactly_one_session(fault, plane, settings, fault_rows):
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 0.4
    row = harness.run_scenario(fault, plane, OCCURRENCES, settings=settings)
    fault_rows.append(row)
    harness.check(row)

"""Fixtures for the dispatch side: a real execution plane on loopback.

Other test folders can use it with `from tests.runs.conftest import plane  # noqa: F401`.
"""

from __future__ import annotations

import pytest

from tests.plane_server import PlaneServer

PLANE_SECRET = "plane-test-secret"


@pytest.fixture
def plane(settings):
    """A started PlaneServer; settings point the `http` client at it (0.5 s call timeout)."""
    server = PlaneServer(secret=PLANE_SECRET).start()
    settings.EXECUTION_PLANE = "http"
    settings.EXECUTION_PLANE_URL = server.url
    settings.EXECUTION_PLANE_SECRET = PLANE_SECRET
    # Small, so the "too slow" case costs half a second of real time.
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 0.5
    try:
        yield server
    finally:
        server.stop()

"""Fixtures for the dispatch side: a real execution plane on loopback.

Other test folders can use it with `from tests.runs.conftest import plane  # noqa: F401`.
"""

from __future__ import annotations

import sys

import pytest

from config.clock import FakeClock
from tests.plane_server import PlaneServer

PLANE_SECRET = "plane-test-secret"
PY = sys.executable


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


@pytest.fixture
def local_plane(settings):
    """The `local` plane with a few test agents; tests add their own to the returned dict."""
    settings.EXECUTION_PLANE = "local"
    settings.LOCAL_AGENTS = {
        "echo": [PY, str(settings.BASE_DIR / "agents" / "echo_agent.py")],
        # An agent that outlives its timeout (the plane must kill it); nothing here waits on it.
        "sleepy": [PY, "-c", "import sys, time; sys.stdin.read(); print('started', flush=True); time.sleep(60)"],
        "env": [PY, "-c", "import json, os, sys; sys.stdin.read(); print(json.dumps(sorted(os.environ)))"],
        "stdin": [PY, "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
    }
    return settings.LOCAL_AGENTS


@pytest.fixture
def scheduler_at():
    """Schedulers on a FakeClock (inline plane calls unless `workers` is given); shut down after."""
    from runs.scheduler import Scheduler

    built = []

    def build(start, **kwargs):
        kwargs = {"replica_id": "r1", "batch_size": 10, "poll_seconds": 1, "workers": 0, **kwargs}
        scheduler = Scheduler(clock=FakeClock(start), **kwargs)
        built.append(scheduler)
        return scheduler

    yield build
    for scheduler in built:
        scheduler.shutdown(wait=True)


# --- small helpers shared by the dispatch-side tests (data comes from tests/factories.py) ------


def inline_dispatcher(replica_id: str = "test", **kwargs):
    """A Dispatcher that calls the plane in the calling thread (workers=0): deterministic."""
    from runs.dispatch import Dispatcher

    return Dispatcher(replica_id=replica_id, workers=0, **kwargs)


def reload(run):
    run.refresh_from_db()
    return run


# --- the LangGraph Agent Server (EXECUTION_PLANE=langgraph) --------------------------------


@pytest.fixture(scope="session")
def langgraph_server(tmp_path_factory):
    """One real `langgraph dev` per test session (it takes seconds to start), in a fresh folder."""
    from tests.langgraph_server import start_in

    server = start_in(tmp_path_factory.mktemp("langgraph"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def langgraph(settings, langgraph_server, live_server):
    """Settings for the `langgraph` plane on the session's server; its webhooks reach `live_server`."""
    settings.EXECUTION_PLANE = "langgraph"
    settings.LANGGRAPH_URL = langgraph_server.url
    settings.EXECUTION_PLANE_SECRET = PLANE_SECRET
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 10
    settings.SITE_URL = live_server.url
    # The server keeps its webhook connection open, and with it the live server's request
    # thread and that thread's persistent database connection, which would hold the test
    # database past the session (DROP DATABASE waits for it). Close each request's connection.
    from django.db import connection

    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    yield langgraph_server
    connection.settings_dict["CONN_MAX_AGE"] = max_age

"""EXECUTION_PLANE=langgraph with real `run_scheduler` replicas on PostgreSQL and a real
`langgraph dev`: the server's own record (threads and their runs) is the oracle.
"""

from __future__ import annotations

import functools
import signal
from datetime import datetime, timedelta

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.plane.langgraph import thread_id_for
from tests import polling
from tests.constants import UTC
from tests.faults.proxy import Fault, FaultProxy
from tests.langgraph_server import free_port
from tests.runs.conftest import PLANE_SECRET
from tests.runs.test_scheduler_process import due_once_schedules, replicas  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

wait_until = functools.partial(polling.wait_until, deadline=60.0)


def plane_env(url: str, site_url: str, **extra) -> dict:
    return {
        "EXECUTION_PLANE": "langgraph",
        "LANGGRAPH_URL": url,
        "SITE_URL": site_url,
        "EXECUTION_PLANE_SECRET": PLANE_SECRET,
        **extra,
    }


def test_50_occurrences_due_at_once_on_2_replicas_give_50_threads_with_one_run_each(
    langgraph, live_server, acme, agent, replicas  # noqa: F811
):
    langgraph_server = langgraph
    acme.max_concurrent_runs = 100
    acme.save()
    due_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    due_once_schedules(acme, agent, 50, due_at=due_at)
    env = plane_env(langgraph_server.url, live_server.url)
    procs = [replicas(f"r{i}", "", "--workers", "4", env=env) for i in range(2)]
    wait_until(
        lambda: ScheduleRun.objects.exclude(message_id="").count() == 50,
        what="50 runs accepted by the server", procs=procs,
    )  # fmt: skip
    for proc in procs:
        assert proc.stop() == 0, proc.output()

    runs = list(ScheduleRun.objects.all())
    assert len(runs) == 50 and {run.attempt for run in runs} == {1}
    assert len({run.session_id for run in runs}) == 50
    for run in runs:
        [server_run] = langgraph_server.runs_of(thread_id_for(run.job_run_id))
        assert server_run["run_id"] == run.message_id


def test_kill_9_mid_create_call_then_another_replica_adopts_the_one_server_run(
    langgraph, acme, agent, replicas  # noqa: F811
):
    langgraph_server = langgraph
    # No webhook reaches us here: the survivor, not a webhook's read-back, must find the run.
    no_webhooks = f"http://127.0.0.1:{free_port()}"
    (schedule,) = due_once_schedules(acme, agent, 1, due_at=datetime.now(UTC).replace(microsecond=0))
    run = None
    proxy = FaultProxy(("127.0.0.1", langgraph_server.port)).start()
    try:
        # The server creates the run; its answer is held back while the replica is killed.
        proxy.inject(Fault.LATE_ANSWER, times=None, match="POST /threads/", delay=30)
        lease = {"SCHEDULER_LEASE_SECONDS": "4"}
        doomed = replicas("doomed", "", env=plane_env(proxy.url, no_webhooks, **lease))
        run = wait_until(lambda: ScheduleRun.objects.first(), what="the run", procs=[doomed])
        thread_id = thread_id_for(run.job_run_id)
        wait_until(lambda: _runs_of(langgraph_server, thread_id), what="the server to create the run", procs=[doomed])
        doomed.kill()
        assert doomed.returncode == -signal.SIGKILL
    finally:
        proxy.stop()
    run.refresh_from_db()
    assert (run.status, run.session_id) == (RunStatus.QUEUED, "")

    survivor = replicas("survivor", "", env=plane_env(langgraph_server.url, no_webhooks, **lease))
    wait_until(
        lambda: ScheduleRun.objects.filter(pk=run.pk).exclude(message_id="").exists(),
        what="the survivor to send the attempt again after the lease expired", procs=[survivor],
    )  # fmt: skip
    assert survivor.stop() == 0, survivor.output()

    run.refresh_from_db()
    assert ScheduleRun.objects.count() == 1 and run.attempt == 1
    [server_run] = langgraph_server.runs_of(thread_id)
    assert (run.session_id, run.message_id) == (thread_id, server_run["run_id"])


def _runs_of(server, thread_id: str) -> list:
    try:
        return server.runs_of(thread_id)
    except OSError:  # 404 before the thread exists
        return []

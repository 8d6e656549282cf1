"""EXECUTION_PLANE=langgraph against a real `langgraph dev` (tests/langgraph_server.py).

One server for the session; the graphs are tests/langgraph_graphs.py (echo, fail, sleep,
report: no LLM). Webhooks reach the test's live server; nothing waits a fixed time.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta

import pytest

from runs.models import RunErrorCode, RunStatus, ScheduleRun
from runs.plane import PlaneError
from runs.plane.langgraph import LangGraphPlaneClient, thread_id_for, webhook_path
from runs.reconcile import reconcile
from schedules.models import AgentInputStyle
from tests import polling
from tests.constants import UTC
from tests.factories import make_agent, make_run, make_schedule
from tests.faults.proxy import Fault, FaultProxy
from tests.langgraph_server import free_port
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

wait_until = functools.partial(polling.wait_until, deadline=30.0)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def due_run(org, slug: str, *, at: datetime, **schedule_fields):
    agent = make_agent(org, slug) if not org.agents.filter(slug=slug).exists() else org.agents.get(slug=slug)
    schedule = make_schedule(org, agent, name=f"{slug} schedule", now=at - timedelta(minutes=1), **schedule_fields)
    return make_run(schedule, at=at)


def dispatch(run, client=None, at: datetime | None = None) -> ScheduleRun:
    dispatcher = inline_dispatcher(client=client or LangGraphPlaneClient.from_settings())
    assert dispatcher.dispatch_ready(now=at or now()) >= 1
    return reload(run)


def finished(run):
    return lambda: reload(run).is_terminal


def test_a_run_succeeds_by_webhook_and_keeps_the_answer_and_outputs(langgraph, acme):
    run = due_run(
        acme, "echo", at=now(), prompt="Summarise **sales**", output_type="pdf",
        params={"output_url": "https://files.example.com/r.pdf"},
    )  # fmt: skip
    run = dispatch(run)
    thread_id = thread_id_for(run.job_run_id)
    assert (run.status, run.session_id) == (RunStatus.RUNNING, thread_id)

    wait_until(finished(run), what="the webhook to finish the run")
    run = reload(run)
    assert run.status == RunStatus.SUCCESS, (run.error_code, run.error_message)
    assert run.answer == "# Echo\n\nSummarise **sales**"
    assert run.outputs == [{"type": "pdf", "name": "report.pdf", "url": "https://files.example.com/r.pdf"}]
    [server_run] = langgraph.runs_of(thread_id)
    assert (run.message_id, server_run["status"]) == (server_run["run_id"], "success")
    thread = langgraph.get(f"/threads/{thread_id}")
    assert {k: thread["metadata"][k] for k in ("job_run_id", "attempt", "org", "schedule_id")} == {
        "job_run_id": run.job_run_id, "attempt": "1", "org": "acme", "schedule_id": str(run.schedule_id),
    }  # fmt: skip


def test_a_fields_style_agent_gets_state_keys_and_its_result_is_the_answer(langgraph, acme):
    make_agent(acme, "reporter", assistant_id="report", input_style=AgentInputStyle.FIELDS)
    run = due_run(acme, "reporter", at=now(), prompt="Q3", output_type="csv", params={"url": "https://f.example/q3.csv"})
    run = dispatch(run)
    wait_until(finished(run), what="the report run to finish")
    run = reload(run)
    assert (run.status, run.answer) == (RunStatus.SUCCESS, "report on Q3")
    assert run.outputs == [{"type": "csv", "name": "report.csv", "url": "https://f.example/q3.csv"}]


def test_the_demo_graph_of_make_run_answers_the_prompt_as_markdown(langgraph, acme):
    make_agent(acme, "demo-echo", assistant_id="demo")
    run = dispatch(due_run(acme, "demo-echo", at=now(), prompt="Weekly KPIs", params={"region": "APAC"}))
    wait_until(finished(run), what="the demo run to finish")
    run = reload(run)
    assert run.status == RunStatus.SUCCESS, run.error_message
    assert run.answer.startswith("# Echo: Weekly KPIs\n\n## Prompt\n\n> Weekly KPIs")
    assert '"region": "APAC"' in run.answer


def test_a_failure_is_retried_as_a_new_attempt_on_a_new_thread(langgraph, acme):
    start = now()
    first = dispatch(due_run(acme, "fail", at=start, prompt="break", retry_backoff_seconds=[1]))
    wait_until(finished(first), what="the failing run to finish")
    first = reload(first)
    assert (first.status, first.error_code) == (RunStatus.FAILED, RunErrorCode.AGENT_FAILED)
    assert first.error_message == "RuntimeError: the fail graph always fails (prompt: break)"

    retry = ScheduleRun.objects.get(retry_of=first)
    assert (retry.status, retry.attempt) == (RunStatus.QUEUED, 2)
    retry = dispatch(retry, at=retry.not_before)
    assert retry.session_id == thread_id_for(retry.job_run_id) != first.session_id
    wait_until(finished(retry), what="the retry to finish")
    assert reload(retry).status == RunStatus.FAILED
    # One server run per attempt, each on its own thread.
    assert [len(langgraph.runs_of(r.session_id)) for r in (first, retry)] == [1, 1]


def test_a_lost_create_answer_keeps_the_attempt_and_its_resend_adopts_the_one_server_run(langgraph, acme, settings):
    no_webhooks(settings)  # the resend, not a webhook's read-back, must find the run
    start = now()
    run = due_run(acme, "echo", at=start)
    thread_id = thread_id_for(run.job_run_id)
    proxy = FaultProxy(("127.0.0.1", langgraph.port)).start()
    try:
        # The server creates the run; its answer never reaches us.
        proxy.inject(Fault.RESET_AFTER_REQUEST, times=1, match=f"POST /threads/{thread_id}/runs")
        client = LangGraphPlaneClient(url=proxy.url, timeout=10)
        run = dispatch(run, client=client, at=start)
        # Unknown outcome: the same attempt waits, without a session, to be sent again.
        assert (run.status, run.session_id, run.attempt) == (RunStatus.RUNNING, "", 1)
        assert run.error_code == RunErrorCode.PLANE_UNREACHABLE
        assert len(langgraph.runs_of(thread_id)) == 1

        reconcile(now=start + timedelta(seconds=31), replica_id="test", client=client)
    finally:
        proxy.stop()
    run = reload(run)
    [server_run] = langgraph.runs_of(thread_id)
    assert (run.session_id, run.message_id, run.attempt) == (thread_id, server_run["run_id"], 1)
    assert not ScheduleRun.objects.filter(retry_of=run).exists()


def no_webhooks(settings):
    """The server's webhooks for this test's runs go nowhere: none arrives after the test."""
    settings.SITE_URL = f"http://127.0.0.1:{free_port()}"


def test_a_webhook_with_a_wrong_token_is_refused_and_its_body_never_trusted(langgraph, acme, client, settings):
    no_webhooks(settings)
    run = dispatch(due_run(acme, "sleep", at=now(), params={"seconds": 20}))
    assert run.status == RunStatus.RUNNING
    forged = {"run_id": run.message_id, "thread_id": run.session_id, "status": "success", "values": {"messages": []}}

    wrong = webhook_path(run.job_run_id)[:-5] + "0000/"
    assert client.post(wrong, forged, content_type="application/json").status_code == 403
    assert (reload(run).status, reload(run).answer) == (RunStatus.RUNNING, "")

    # The right token with a body claiming success: the server says running, so it stays running.
    answer = client.post(webhook_path(run.job_run_id), forged, content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"status": "ignored", "reason": "not final"}
    assert reload(run).status == RunStatus.RUNNING
    LangGraphPlaneClient.from_settings().cancel(run)


def test_our_timeout_cancels_the_server_run(langgraph, acme, settings):
    no_webhooks(settings)
    start = now()
    run = dispatch(due_run(acme, "sleep", at=start, params={"seconds": 60}, timeout_seconds=60), at=start)
    assert run.status == RunStatus.RUNNING

    reconcile(now=start + timedelta(seconds=61), replica_id="test", client=LangGraphPlaneClient.from_settings())
    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, RunErrorCode.TIMEOUT)
    server_run = wait_until(
        lambda: (r := langgraph.get(f"/threads/{run.session_id}/runs/{run.message_id}"))["status"] == "interrupted" and r,
        what="the server run to be interrupted",
    )
    assert server_run["run_id"] == run.message_id


def test_a_server_dripping_its_answer_cannot_hold_a_call_past_its_deadline(langgraph, acme):
    run = dispatch(due_run(acme, "echo", at=now()))
    proxy = FaultProxy(("127.0.0.1", langgraph.port)).start()
    try:
        # A byte every 0.3 s: each read is quick, the whole answer would take minutes.
        proxy.inject(Fault.DRIPPING_BODY, times=None, match="GET /threads/", delay=0.3)
        client = LangGraphPlaneClient(url=proxy.url, timeout=1.5)
        started = time.monotonic()
        with pytest.raises(PlaneError) as late:
            client.poll(run)
        took = time.monotonic() - started
    finally:
        proxy.stop()
    assert late.value.code == RunErrorCode.PLANE_TIMEOUT
    assert 1.4 < took < 3.0

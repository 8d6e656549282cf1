"""The local execution plane: real subprocesses from LOCAL_AGENTS, run by the dispatcher."""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.plane import get_client
from runs.plane.local import LocalPlaneClient
from tests.factories import T0, make_agent, make_schedule
from tests.runs.conftest import inline_dispatcher, queue_run, reload

pytestmark = pytest.mark.django_db

NINE = T0.replace(hour=9)
PY = sys.executable


@pytest.fixture
def local_plane(settings):
    settings.EXECUTION_PLANE = "local"
    settings.LOCAL_AGENTS = {
        "echo": [PY, str(settings.BASE_DIR / "agents" / "echo_agent.py")],
        # An agent that outlives its timeout (the plane must kill it); nothing here waits on it.
        "sleepy": [PY, "-c", "import sys, time; sys.stdin.read(); print('started', flush=True); time.sleep(60)"],
        "env": [PY, "-c", "import json, os, sys; sys.stdin.read(); print(json.dumps(sorted(os.environ)))"],
        "stdin": [PY, "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
    }
    return settings.LOCAL_AGENTS


def decode(output: dict) -> str:
    header, data = output["url"].split(",", 1)
    assert header.endswith(";base64")
    return base64.b64decode(data).decode()


def dispatch_one(schedule):
    run = queue_run(schedule, at=NINE)
    assert inline_dispatcher().dispatch_ready(now=NINE) == 1
    return reload(run)


def test_get_client_picks_local_from_settings(local_plane):
    client = get_client()
    assert isinstance(client, LocalPlaneClient) and client.synchronous


def test_echo_agent_success_stores_its_markdown_as_the_output(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, prompt="Summarise the week", output_type="markdown"))
    assert run.status == RunStatus.SUCCESS, run.error_message
    assert run.session_id.startswith("local-") and run.started_at is not None and run.finished_at >= run.started_at
    [output] = run.outputs
    assert (output["type"], output["name"]) == ("markdown", "result.md")
    assert output["url"].startswith("data:text/markdown;base64,")
    text = decode(output)
    assert text.startswith("# Echo: Summarise the week") and run.job_run_id in text


def test_the_agent_receives_the_contract_payload_on_stdin(acme, local_plane):
    schedule = make_schedule(acme, make_agent(acme, "stdin"), prompt="hello", output_type="json", params={"k": 1})
    run = dispatch_one(schedule)
    payload = json.loads(decode(run.outputs[0]))
    assert payload["prompt"] == "hello" and payload["params"] == {"k": 1} and payload["output_type"] == "json"
    assert payload["metadata"]["job_run_id"] == run.job_run_id and payload["metadata"]["org"] == "acme"
    assert run.outputs[0]["name"] == "result.json"


def test_a_failing_agent_fails_the_run_with_its_stderr_and_is_retried(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, prompt="Please FAIL now"))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_failed")
    assert run.error_message.startswith("the agent ended with exit status 1: echo agent: the prompt asked to FAIL")
    assert run.outputs == []
    assert ScheduleRun.objects.get(retry_of=run).attempt == 2


def test_an_agent_still_running_at_the_timeout_is_killed_and_the_run_times_out(acme, local_plane):
    schedule = make_schedule(acme, make_agent(acme, "sleepy"), timeout_seconds=1)
    started = time.monotonic()
    run = dispatch_one(schedule)
    assert time.monotonic() - started < 10
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, "timeout")
    assert "after 1 s" in run.error_message
    assert run.started_at is not None  # it was running (and counted as such) while the agent ran
    pid = int(run.session_id.split("-")[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert ScheduleRun.objects.get(retry_of=run).attempt == 2


def test_an_agent_not_in_local_agents_fails_with_agent_not_configured_and_is_not_retried(acme, local_plane):
    run = dispatch_one(make_schedule(acme, make_agent(acme, "sales-analyst")))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_not_configured")
    assert "'sales-analyst' has no command in LOCAL_AGENTS" in run.error_message
    assert ScheduleRun.objects.count() == 1


def test_the_agent_does_not_inherit_secrets_from_our_environment(acme, local_plane, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("EXECUTION_PLANE_SECRET", "s3cret")
    run = dispatch_one(make_schedule(acme, make_agent(acme, "env"), output_type="json"))
    names = json.loads(decode(run.outputs[0]))
    assert "DATABASE_URL" not in names and "EXECUTION_PLANE_SECRET" not in names
    assert "PATH" in names and "AGENT_JOB_RUN_ID" in names


def test_output_type_none_keeps_no_output(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, output_type="none"))
    assert run.status == RunStatus.SUCCESS and run.outputs == []


def test_a_command_that_cannot_start_fails_with_agent_start_failed(acme, local_plane):
    local_plane["ghost"] = ["/nonexistent/agent-binary"]
    run = dispatch_one(make_schedule(acme, make_agent(acme, "ghost")))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_start_failed")

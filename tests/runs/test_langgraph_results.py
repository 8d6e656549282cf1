"""The LangGraph plane's reading of a finished run (statuses, answer, outputs, errors) and its
webhook's token: what the real-server tests (test_langgraph_plane.py) cannot reach cheaply,
on the server's own JSON shapes (as `langgraph-api` 0.16 answers them)."""

from __future__ import annotations

import pytest

from runs.models import RunErrorCode
from runs.plane import PlaneStatus
from runs.plane.base import MAX_ANSWER
from runs.plane.langgraph import (
    LangGraphPlaneClient,
    answer_from_values,
    run_input,
    thread_id_for,
    webhook_path,
    webhook_token,
)

THREAD = "0fe71c0b-a396-53df-9687-a8b209dff8eb"


def result(status: str, values=None, *, thread_status="idle", error=None):
    client = LangGraphPlaneClient(url="http://127.0.0.1:1", site_url="http://127.0.0.1:8000")
    found = {"run_id": "r-1", "thread_id": THREAD, "status": status, "metadata": {"job_run_id": "j-1"}}
    thread = {"thread_id": THREAD, "status": thread_status, "values": values or {}, "error": error}
    return client.result_of(found, thread)


def test_the_last_assistant_message_is_the_answer_in_either_message_shape():
    values = {"messages": [
        {"type": "human", "content": "hi"},
        {"type": "ai", "content": "first"},
        {"type": "tool", "content": "tool output"},
        {"role": "assistant", "content": [{"type": "text", "text": "# Report"}, {"type": "text", "text": "\n\ndone"}]},
        {"type": "human", "content": "thanks"},
    ]}  # fmt: skip
    assert answer_from_values(values) == "# Report\n\ndone"


def test_without_messages_a_result_or_output_value_is_the_answer_and_json_unless_text():
    assert answer_from_values({"result": "the text"}) == "the text"
    assert answer_from_values({"output": {"total": 3, "region": "亚太"}}) == '{"total": 3, "region": "亚太"}'
    assert answer_from_values({"prompt": "p"}) == ""
    assert len(answer_from_values({"result": "x" * (MAX_ANSWER + 10)})) == MAX_ANSWER


def test_a_success_keeps_answer_outputs_and_the_servers_record_for_usage_readers():
    values = {"messages": [{"type": "ai", "content": "ok", "usage_metadata": {"total_tokens": 42}}],
              "outputs": [{"type": "pdf", "name": "r.pdf", "url": "https://f.example/r.pdf"}]}  # fmt: skip
    got = result("success", values)
    assert (got.status, got.session_id, got.message_id, got.answer) == (PlaneStatus.SUCCESS, THREAD, "r-1", "ok")
    assert got.outputs == values["outputs"]
    assert got.state["values"]["messages"][0]["usage_metadata"] == {"total_tokens": 42}
    assert got.state["run"]["metadata"] == {"job_run_id": "j-1"}
    assert got.usage == {"total_tokens": 42}


def test_usage_adds_up_the_ai_messages_or_takes_what_the_graph_reports():
    values = {"messages": [
        {"type": "human", "content": "hi"},
        {"type": "ai", "content": "a", "usage_metadata": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}},
        {"type": "ai", "content": "b", "usage_metadata": {"input_tokens": 150, "output_tokens": 30, "total_tokens": 180}},
    ]}  # fmt: skip
    assert result("success", values).usage == {"input_tokens": 250, "output_tokens": 50, "total_tokens": 300}
    reported = {**values, "usage": {"total_tokens": 7, "cost_usd": 0.25}}
    got = result("success", reported)
    assert got.usage["total_tokens"] == 7 and str(got.usage["cost_usd"]) == "0.250000"
    assert result("success", {"messages": [{"type": "ai", "content": "no counts"}]}).usage is None


@pytest.mark.parametrize(
    "status, thread_status, error, expected",
    [
        ("error", "error", {"error": "RuntimeError", "message": "boom"}, (PlaneStatus.FAILED, RunErrorCode.AGENT_FAILED, "RuntimeError: boom")),
        ("timeout", "idle", None, (PlaneStatus.TIMEOUT, RunErrorCode.TIMEOUT, "the LangGraph run timed out")),
        ("interrupted", "idle", None, (PlaneStatus.FAILED, "agent_interrupted", "the LangGraph run was interrupted (thread status 'idle')")),
        # A graph waiting for human input: a scheduled run cannot give it.
        ("success", "interrupted", None, (PlaneStatus.FAILED, "agent_interrupted", "the LangGraph run was interrupted (thread status 'interrupted')")),
    ],
)
def test_final_statuses_map_to_ours_with_a_clear_code(status, thread_status, error, expected):
    got = result(status, thread_status=thread_status, error=error)
    assert (got.status, got.error_code, got.error_message) == expected


def test_outputs_that_are_not_the_contracts_fail_the_run_with_a_readable_reason():
    got = result("success", {"outputs": [{"type": "pdf", "url": 3}]})
    assert (got.status, got.error_code) == (PlaneStatus.FAILED, RunErrorCode.PLANE_BAD_RESPONSE)
    assert "outputs were not understood" in got.error_message


def test_input_styles():
    request = {"prompt": "Sales?", "output_type": "pdf", "params": {"region": "APAC"}}
    assert run_input(request, "chat") == {
        "messages": [{"role": "user", "content": "Sales?"}], "output_type": "pdf", "params": {"region": "APAC"},
    }  # fmt: skip
    assert run_input(request, "fields") == request


def test_thread_ids_are_stable_per_attempt_and_differ_between_attempts():
    assert thread_id_for("s-20261201T010000Z-1") == thread_id_for("s-20261201T010000Z-1")
    assert thread_id_for("s-20261201T010000Z-1") != thread_id_for("s-20261201T010000Z-2")


@pytest.mark.django_db
def test_a_webhook_needs_the_token_of_its_own_job_run_id_and_a_secret(client, settings):
    settings.EXECUTION_PLANE_SECRET = "s3cret"
    other = webhook_path("job-b").replace("job-b", "job-a")
    assert client.post(other).status_code == 403
    # Unknown run, right token: nothing to do, and the server must not retry.
    answer = client.post(webhook_path("job-a"))
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored", "reason": "unknown run"})
    settings.EXECUTION_PLANE_SECRET = ""
    assert client.post(f"/api/v1/runs/langgraph/job-a/{webhook_token('job-a', '')}/").status_code == 403


@pytest.mark.parametrize(
    "status, code, unknown",
    [
        (429, "plane_http_429", True),  # busy: it did not act, but may next time
        (408, "plane_http_408", True),
        (503, "plane_http_503", True),
        (422, RunErrorCode.PLANE_REJECTED, False),
    ],
)
def test_the_servers_refusals_follow_the_same_ambiguity_rule_as_the_http_plane(status, code, unknown):
    import time

    import httpx
    from langgraph_sdk.errors import APIStatusError

    from runs.plane import PlaneError

    client = LangGraphPlaneClient(url="http://127.0.0.1:1", site_url="http://127.0.0.1:8000")
    answer = httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1:1/threads"))

    def refused(_sdk):
        raise APIStatusError("refused", response=answer, body=None)

    with pytest.raises(PlaneError) as caught:
        client._request(time.monotonic() + 5, "POST /threads", refused)
    assert (caught.value.code, caught.value.unknown_outcome) == (code, unknown)

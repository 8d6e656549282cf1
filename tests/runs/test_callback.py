"""POST /api/v1/runs/callback/: the signed report from the execution plane."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.reconcile import reconcile
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.plane_server import sign
from tests.runs.conftest import PLANE_SECRET, inline_dispatcher, reload

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs/callback/"


@pytest.fixture
def running(acme, agent, plane, fake_clock):
    """A run the plane accepted (session sess-000001), at 09:00 on the fake clock."""
    fake_clock.set(NINE)
    run = make_run(make_schedule(acme, agent, timeout_seconds=600), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    run = reload(run)
    assert run.status == RunStatus.RUNNING
    return run


def post(client, body, signature=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {} if signature is False else {"HTTP_X_SIGNATURE": signature or sign(PLANE_SECRET, raw)}
    return client.post(URL, data=raw, content_type="application/json", **headers)


def snapshot(run):
    run = reload(run)
    return (run.status, run.finished_at, run.outputs, run.error_code, run.session_id)


def success_body(run, **extra):
    return {
        "job_run_id": run.job_run_id,
        "session_id": run.session_id,
        "message_id": "msg-42",
        "status": "success",
        "outputs": [{"type": "pdf", "name": "report.pdf", "url": "https://files.example/r.pdf"}],
        **extra,
    }


def test_a_signed_success_is_applied(client, running, fake_clock):
    fake_clock.advance(90)
    response = post(client, success_body(running))
    assert response.status_code == 200 and response.json() == {"status": "applied"}
    run = reload(running)
    assert (run.status, run.message_id, run.finished_at) == (RunStatus.SUCCESS, "msg-42", NINE + timedelta(seconds=90))
    assert run.outputs == [{"type": "pdf", "name": "report.pdf", "url": "https://files.example/r.pdf"}]
    assert run.lease_expires_at is None


def test_the_agents_text_answer_is_kept_on_the_run_and_shown_by_the_api(client, running, alice):
    answer = "# Sales\n\nAPAC up 4%. " + "x" * 70_000
    assert post(client, success_body(running, text=answer)).json() == {"status": "applied"}
    assert reload(running).answer == answer[: 64 * 1024]
    client.force_login(alice)
    shown = client.get(f"/api/v1/runs/{running.pk}/").json()
    assert shown["answer"].startswith("# Sales\n\nAPAC up 4%.") and len(shown["answer"]) == 64 * 1024


def test_a_text_answer_that_is_not_a_string_is_400(client, running):
    response = post(client, success_body(running, text={"not": "text"}))
    assert response.status_code == 400 and "text must be a string" in response.json()["detail"]
    assert reload(running).status == RunStatus.RUNNING


def test_missing_signature_is_401_and_changes_nothing(client, running):
    before = snapshot(running)
    response = post(client, success_body(running), signature=False)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert snapshot(running) == before


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        sign("another-secret", b"{}"),
        "sha1=abc",
        "garbage",
    ],
)
def test_wrong_signature_is_401_and_changes_nothing(client, running, signature):
    before = snapshot(running)
    assert post(client, success_body(running), signature=signature).status_code == 401
    assert snapshot(running) == before


def test_a_signature_of_another_body_is_401(client, running):
    honest = json.dumps(success_body(running, status="failed")).encode()
    forged = json.dumps(success_body(running)).encode()
    assert post(client, forged, signature=sign(PLANE_SECRET, honest)).status_code == 401
    assert reload(running).status == RunStatus.RUNNING


def test_no_callback_is_accepted_when_no_secret_is_configured(client, running, settings):
    settings.EXECUTION_PLANE_SECRET = ""
    raw = json.dumps(success_body(running)).encode()
    assert post(client, raw, signature=sign("", raw)).status_code == 401
    assert reload(running).status == RunStatus.RUNNING


def test_the_signature_header_is_checked_case_insensitively_in_hex(client, running):
    raw = json.dumps(success_body(running)).encode()
    assert post(client, raw, signature=sign(PLANE_SECRET, raw).upper().replace("SHA256=", "sha256=")).status_code == 200


@pytest.mark.parametrize(
    "body, detail",
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "job_run_id is required"),
        (b'{"status": "success"}', "job_run_id is required"),
    ],
)
def test_malformed_bodies_are_400(client, running, body, detail):
    response = post(client, body)
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert response.json()["detail"].startswith(detail)
    # The API's one error shape: a 400 lists what is wrong under `errors`.
    assert response.json()["errors"] == {"non_field_errors": [response.json()["detail"]]}
    assert reload(running).status == RunStatus.RUNNING


def test_an_unknown_status_or_bad_outputs_are_400(client, running):
    assert post(client, success_body(running, status="exploded")).status_code == 400
    assert post(client, success_body(running, outputs=[{"name": "x"}])).status_code == 400
    assert reload(running).status == RunStatus.RUNNING


def test_a_callback_for_an_unknown_run_is_ignored(client, running):
    response = post(client, success_body(running, job_run_id="no-such-run"))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "unknown run"}
    assert reload(running).status == RunStatus.RUNNING


def test_a_callback_for_a_finished_run_is_ignored_and_changes_nothing(client, running):
    assert post(client, success_body(running)).json() == {"status": "applied"}
    before = snapshot(running)
    response = post(client, success_body(running, status="failed", outputs=[], error={"code": "x", "message": "late"}))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "already finished"}
    assert snapshot(running) == before
    assert ScheduleRun.objects.count() == 1  # no retry from the ignored failure


def test_a_late_success_after_the_timeout_is_ignored(client, running, plane):
    reconcile(now=NINE + timedelta(seconds=601), replica_id="test")
    timed_out = snapshot(running)
    assert timed_out[0] == RunStatus.TIMEOUT

    plane.complete(running.session_id, "success")
    response = plane.send_callback(running.session_id, client=client)
    assert response.json() == {"status": "ignored", "reason": "already finished"}
    assert snapshot(running) == timed_out


def test_a_failed_callback_stores_the_plane_error_and_queues_the_retry(client, running):
    body = success_body(running, status="failed", outputs=[], error={"code": "llm_quota", "message": "quota exceeded"})
    assert post(client, body).json() == {"status": "applied"}
    run = reload(running)
    assert (run.status, run.error_code, run.error_message) == (RunStatus.FAILED, "llm_quota", "quota exceeded")
    assert ScheduleRun.objects.get(retry_of=run).attempt == 2


def test_a_canceled_callback_cancels_without_counting_a_failure(client, running):
    assert post(client, success_body(running, status="canceled", outputs=[])).json() == {"status": "applied"}
    run = reload(running)
    assert run.status == RunStatus.CANCELED
    run.schedule.refresh_from_db()
    assert run.schedule.consecutive_failures == 0
    assert not ScheduleRun.objects.filter(retry_of=run).exists()


def test_a_callback_from_another_session_is_ignored(client, running):
    response = post(client, success_body(running, session_id="sess-someone-else"))
    assert response.json() == {"status": "ignored", "reason": "session mismatch"}
    assert reload(running).status == RunStatus.RUNNING


def test_a_running_callback_before_the_create_answer_marks_the_run_running(client, acme, agent, plane):
    run = make_run(make_schedule(acme, agent), at=NINE)
    body = {"job_run_id": run.job_run_id, "session_id": "sess-early", "status": "running", "outputs": []}
    assert post(client, body).json() == {"status": "applied"}
    run = reload(run)
    assert (run.status, run.session_id) == (RunStatus.RUNNING, "sess-early")
    # A second progress report changes nothing.
    assert post(client, body).json() == {"status": "ignored", "reason": "not final"}


def test_a_replayed_callback_changes_nothing(client, running):
    raw = json.dumps(success_body(running)).encode()
    assert post(client, raw).json() == {"status": "applied"}
    before = snapshot(running)
    assert post(client, raw).json()["status"] == "ignored"
    assert snapshot(running) == before


def test_the_callback_is_in_the_openapi_schema(client, alice):
    client.force_login(alice)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/runs/callback/"]["post"]
    assert {"200", "400", "401"} <= set(operation["responses"])
    assert not operation.get("security")  # signed by HMAC, no user authentication


@pytest.mark.django_db(transaction=True)
def test_the_plane_calls_back_over_http_to_the_url_it_was_given(acme, agent, plane, live_server, settings, fake_clock):
    settings.SITE_URL = live_server.url
    fake_clock.set(NINE)
    run = make_run(make_schedule(acme, agent), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    session = plane.session_for(run.job_run_id)
    assert session.request["callback_url"] == f"{live_server.url}/api/v1/runs/callback/"

    plane.complete(session.session_id, "success")
    status, answer = plane.send_callback(session.session_id)  # to the callback_url, over HTTP
    assert (status, answer) == (200, {"status": "applied"})
    assert reload(run).status == RunStatus.SUCCESS

"""The http execution-plane client against a real loopback server that speaks the contract."""

from __future__ import annotations

import json

import pytest

from runs.models import RunErrorCode
from runs.plane import PlaneError, PlaneStatus, get_client
from config.signing import sign
from runs.plane.http import HttpPlaneClient
from tests.constants import T0
from tests.factories import make_run, make_schedule
from tests.plane_server import PlaneServer
from tests.runs.conftest import PLANE_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(acme, agent, plane):
    schedule = make_schedule(acme, agent, params={"region": "APAC"}, output_type="pdf")
    return make_run(schedule, at=T0.replace(hour=9))


def test_get_client_picks_http_from_settings(plane):
    client = get_client()
    assert isinstance(client, HttpPlaneClient)
    assert client.base_url == plane.url and not client.synchronous


def test_start_sends_the_contract_request_signed_with_the_job_run_id_as_idempotency_key(plane, run, settings):
    answer = get_client().start(run)

    assert answer.session_id == "sess-000001" and answer.message_id == "msg-000001"
    assert answer.status == PlaneStatus.RUNNING
    [request] = plane.requests
    assert (request["method"], request["path"]) == ("POST", "/sessions")
    assert request["idempotency_key"] == run.job_run_id
    assert request["signature_ok"]
    body = json.loads(request["body"])
    assert body == {
        "agent": "echo",
        "prompt": run.prompt,
        "output_type": "pdf",
        "params": {"region": "APAC"},
        "metadata": {
            "trigger_type": "scheduled",
            "schedule_id": str(run.schedule_id),
            "job_run_id": run.job_run_id,
            "attempt": 1,
            "scheduled_for": "2026-12-01T09:00:00Z",
            "org": "acme",
            "scheduled_for_local": "2026-12-01T09:00:00+00:00",
            "timezone": "UTC",
        },
        "callback_url": settings.SITE_URL + "/api/v1/runs/callback/",
    }


def test_same_job_run_id_twice_gets_the_same_session(plane, run):
    client = get_client()
    first, second = client.start(run), client.start(run)
    assert first.session_id == second.session_id
    assert plane.unique_sessions == 1 and plane.create_calls == 2


def test_connection_refused_is_plane_unreachable(plane, run):
    plane.down()
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == RunErrorCode.PLANE_UNREACHABLE == "plane_unreachable"
    # Nothing reached the plane: a definitive failure.
    assert "Connection" in err.value.message and not err.value.unknown_outcome


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_an_error_naming_the_status(plane, run, status):
    plane.fail_with = status
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == f"plane_http_{status}"
    assert err.value.unknown_outcome  # a 5xx does not say whether the plane started it


def test_no_answer_within_the_timeout_is_plane_timeout(plane, run, settings):
    plane.delay_seconds = 10  # held until the fixture releases it
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == RunErrorCode.PLANE_TIMEOUT == "plane_timeout"
    assert "0.5 s" in err.value.message


def test_an_answer_that_is_not_json_is_plane_bad_response(plane, run):
    plane.malformed = True
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == RunErrorCode.PLANE_BAD_RESPONSE == "plane_bad_response"


@pytest.mark.parametrize("levels", [65, 200_000], ids=["over-the-limit", "deeper-than-the-parser-goes"])
def test_an_answer_nested_too_deeply_is_plane_bad_response(plane, run, levels):
    """Deeper than the parser's stack used to escape the client as RecursionError: the worker
    logged it and the run went to the plane again and again."""
    plane.malformed = b"[" * levels + b"]" * levels
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == RunErrorCode.PLANE_BAD_RESPONSE and "nests more than 64 levels" in err.value.message


def test_a_create_answer_without_session_id_is_plane_bad_response(run):
    # A server that answers 200 with JSON of the wrong shape.
    server = PlaneServer(secret=PLANE_SECRET).start()
    server._create = lambda key, request: (200, {"id": "x"})
    try:
        client = HttpPlaneClient(base_url=server.url, timeout=2, secret=PLANE_SECRET)
        with pytest.raises(PlaneError) as err:
            client.start(run)
    finally:
        server.stop()
    assert err.value.code == RunErrorCode.PLANE_BAD_RESPONSE and "session_id" in err.value.message


def test_4xx_is_plane_rejected_and_definitive(plane, run):
    plane.fail_with = 422
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert err.value.code == RunErrorCode.PLANE_REJECTED == "plane_rejected"
    assert "422" in err.value.message and not err.value.unknown_outcome


def test_poll_reads_the_session_state(plane, run):
    client = get_client()
    run.session_id = client.start(run).session_id
    assert client.poll(run).status == PlaneStatus.RUNNING

    plane.complete(run.session_id, "success", outputs=[{"type": "pdf", "name": "r.pdf", "url": "https://f/r.pdf"}])
    result = client.poll(run)
    assert (result.status, result.session_id, result.message_id) == ("success", "sess-000001", "msg-000001")
    assert result.outputs == [{"type": "pdf", "name": "r.pdf", "url": "https://f/r.pdf"}]


def test_poll_of_a_failed_session_carries_the_plane_error(plane, run):
    client = get_client()
    run.session_id = client.start(run).session_id
    plane.complete(run.session_id, "failed", error={"code": "quota_exceeded", "message": "no tokens left"})
    result = client.poll(run)
    assert (result.status, result.error_code, result.error_message) == ("failed", "quota_exceeded", "no tokens left")


def test_poll_of_a_session_the_plane_does_not_know_is_session_not_found(plane, run):
    run.session_id = "sess-unknown"
    with pytest.raises(PlaneError) as err:
        get_client().poll(run)
    assert err.value.code == RunErrorCode.PLANE_SESSION_NOT_FOUND


def test_cancel_asks_the_plane_to_stop_the_session(plane, run):
    client = get_client()
    run.session_id = client.start(run).session_id
    client.cancel(run)
    assert plane.session_for(run.job_run_id).cancel_requested
    assert plane.requests[-1]["path"] == f"/sessions/{run.session_id}/cancel"


def test_cancel_of_an_unknown_session_is_quietly_done(plane, run):
    run.session_id = "sess-gone"
    get_client().cancel(run)  # nothing to stop; no error
    assert plane.requests[-1]["path"] == "/sessions/sess-gone/cancel"


def test_signature_is_hmac_sha256_of_the_raw_body():
    # RFC 4231, test case 2.
    expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", b"what do ya want for nothing?") == expected


def test_a_plane_restart_between_calls_is_survived_on_a_new_connection(plane, run, acme, agent):
    client = get_client()
    client.start(run)  # leaves a keep-alive connection open
    plane.down()
    plane.up()  # same port, the old connection is gone
    other = make_run(make_schedule(acme, agent, name="other"), at=T0.replace(hour=10))
    assert client.start(other).session_id == "sess-000002"


def test_an_answer_dripping_a_byte_at_a_time_is_cut_at_the_call_deadline(plane, run):
    """Each byte beats the read timeout; the call as a whole must not (the lease depends on it)."""
    plane.drip_seconds = 0.05  # about 8 s for the whole create answer
    with pytest.raises(PlaneError) as err:
        get_client().start(run)
    assert plane.dripped_bytes < plane.drip_answer_bytes // 2  # the client hung up early in the answer
    assert err.value.code == RunErrorCode.PLANE_TIMEOUT
    assert "no complete answer within 0.5 s" in err.value.message
    assert plane.create_calls == 1


def test_the_dispatchers_budget_shortens_the_call_below_the_plane_timeout(plane, run, settings):
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 30
    plane.drip_seconds = 0.05  # the whole answer (about 8 s) would fit in the plane timeout
    with pytest.raises(PlaneError) as err:
        get_client().start(run, timeout=0.3)
    assert plane.dripped_bytes < plane.drip_answer_bytes // 2
    assert "within 0.3 s" in err.value.message


def test_credentials_in_the_plane_url_are_sent_but_never_shown(plane, run, acme, agent, settings):
    from runs.models import RunStatus
    from tests.runs.conftest import inline_dispatcher, reload

    settings.EXECUTION_PLANE_URL = plane.url.replace("http://", "http://svc:pl4ne-pass@") + "/internal"
    plane.fail_with = 422
    assert inline_dispatcher().dispatch_ready(now=T0.replace(hour=9)) == 1

    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "plane_rejected")
    assert "pl4ne-pass" not in run.error_message
    assert run.error_message.startswith(f"POST http://svc:***@127.0.0.1:{plane.port}/internal/sessions answered 422")
    # The URL's credentials are what an ingress in front of the plane checks: they are sent.
    assert plane.requests[0]["authorization"] == "Basic c3ZjOnBsNG5lLXBhc3M="  # svc:pl4ne-pass


def test_a_refused_connection_names_the_plane_without_its_password(plane, run):
    plane.down()
    client = HttpPlaneClient(base_url=plane.url.replace("http://", "http://svc:pl4ne-pass@"), timeout=0.5)
    with pytest.raises(PlaneError) as err:
        client.start(run)
    assert "pl4ne-pass" not in str(err.value) and "svc:***@" in err.value.message

"""Crafted input never gets a 500 or an HTML page: always a 4xx in the API's one error shape."""

from __future__ import annotations

import base64
import json

import pytest

from runs.models import RunStatus, ScheduleRun
from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_run
from tests.plane_server import sign
from tests.runs.conftest import PLANE_SECRET

pytestmark = pytest.mark.django_db

CALLBACK = f"{API}/runs/callback/"
# 2 KB: arrays nested 1,000 levels deep, as a value where the API expects an object.
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def plane_secret(settings):
    settings.EXECUTION_PLANE_SECRET = PLANE_SECRET


def post_raw(client, url, raw: bytes, method="post", **headers):
    return getattr(client, method)(url, data=raw, content_type="application/json", **headers)


def signed(client, raw: bytes):
    return post_raw(client, CALLBACK, raw, HTTP_X_SIGNATURE=sign(PLANE_SECRET, raw))


# --- bodies nested too deeply -----------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/schedules/"),
        ("post", "/schedules/preview/"),
        ("patch", "/schedules/{id}/"),
        ("put", "/schedules/{id}/"),
    ],
)
@pytest.mark.parametrize("body", [DEEP, '{"params": ' + DEEP + "}", '{"a":' * 1000 + "1" + "}" * 1000])
def test_a_body_nested_a_thousand_levels_deep_is_a_400(api, alice, schedule, method, path, body):
    response = post_raw(api(alice), API + path.format(id=schedule.pk), body.encode(), method=method)
    body = assert_error(response, 400, "parse_error")
    assert "nested" in body["detail"]


def test_a_body_nested_within_the_limit_still_reaches_validation(api, alice):
    params = {"a": 1}
    for _ in range(25):
        params = {"a": params}
    response = api(alice).post(f"{API}/schedules/", {**VALID_SCHEDULE, "params": params}, format="json")
    assert_error(response, 400, "invalid", "params")


def test_a_signed_callback_nested_a_thousand_levels_deep_is_a_400(client, plane_secret):
    body = assert_error(signed(client, ('{"job_run_id": ' + DEEP + "}").encode()), 400, "invalid")
    assert "nested" in body["detail"]


# --- bodies that are too large ------------------------------------------------------------------

BIG = json.dumps({**VALID_SCHEDULE, "description": "x" * 3_000_000}).encode()  # over Django's 2.5 MB


def test_a_body_over_the_upload_limit_is_a_413_in_the_error_shape(api, alice):
    body = assert_error(post_raw(api(alice), f"{API}/schedules/", BIG), 413, "too_large")
    assert "2.5 MB" in body["detail"] or "bytes" in body["detail"]


def test_a_session_client_gets_the_same_413(client, alice):
    client.force_login(alice)
    assert_error(post_raw(client, f"{API}/schedules/", BIG), 413, "too_large")


def test_a_request_django_refuses_outside_a_view_gets_the_json_shape(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    response = client.get(f"{API}/schedules/?" + "&".join(f"f{i}=1" for i in range(10)))
    # The list reads its filters from the query string: too many fields is refused by Django.
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 400)


def test_a_callback_over_the_upload_limit_is_a_413_in_the_error_shape(client, plane_secret):
    assert_error(signed(client, BIG), 413, "too_large")


# --- cursors that were never handed out ---------------------------------------------------------


def forged_cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


FORGED = [
    {"t": "2026-12-01T00:00:00+00:00", "i": 5, "d": "n"},
    {"t": "2026-12-01T00:00:00+00:00", "i": ["x"], "d": "n"},
    {"t": "2026-12-01T00:00:00+00:00", "i": {"a": 1}, "d": "p"},
    {"t": "9999-12-31T23:59:59-14:00", "i": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8", "d": "n"},
    {"t": "9999-12-31T23:59:59-14:00", "i": "7", "d": "p"},
    {"t": "0001-01-01T00:00:00+14:00", "i": "7", "d": "n"},
    {"t": 20261201, "i": "7", "d": "n"},
    [DEEP],
]


@pytest.mark.parametrize("cursor", FORGED, ids=range(len(FORGED)))
@pytest.mark.parametrize("path", ["/schedules/", "/schedules/{id}/runs/", "/audit-events/"])
def test_a_forged_cursor_is_a_400_on_every_list(api, alice, schedule, cursor, path):
    make_run(schedule, status=RunStatus.FAILED)
    url = API + path.format(id=schedule.pk)
    response = api(alice).get(url, {"cursor": forged_cursor(cursor)})
    assert_error(response, 400, "invalid", "cursor")


def test_a_cursor_nested_too_deeply_is_a_400(api, alice, schedule):
    cursor = base64.urlsafe_b64encode(DEEP.encode()).decode()
    assert_error(api(alice).get(f"{API}/schedules/", {"cursor": cursor}), 400, "invalid", "cursor")


# --- NUL characters (PostgreSQL cannot store them in text or jsonb) -----------------------------


@pytest.fixture
def running(schedule, plane_secret):
    run = make_run(schedule, status=RunStatus.RUNNING)
    ScheduleRun.objects.filter(pk=run.pk).update(session_id="sess-1", started_at=run.created_at)
    return run


def test_a_signed_callback_with_nul_is_stored_without_it(client, running):
    raw = json.dumps(
        {
            "job_run_id": running.job_run_id,
            "session_id": "sess-1",
            "status": "failed",
            "outputs": [{"type": "pdf", "name": "re\u0000port.pdf", "url": "https://files.example/r\u0000.pdf"}],
            "error": {"code": "agent\u0000_crash", "message": "boom\u0000 at line 3"},
        }
    ).encode()
    response = signed(client, raw)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "applied"}
    running.refresh_from_db()
    assert running.status == RunStatus.FAILED
    assert (running.error_code, running.error_message) == ("agent_crash", "boom at line 3")
    assert running.outputs == [{"type": "pdf", "name": "report.pdf", "url": "https://files.example/r.pdf"}]


def test_a_signed_callback_with_nul_in_its_run_id_is_answered_not_crashed(client, running):
    raw = json.dumps({"job_run_id": running.job_run_id + "\u0000", "session_id": "sess-1", "status": "success"})
    response = signed(client, raw.encode())
    assert response.status_code == 200, response.content
    running.refresh_from_db()
    assert running.status == RunStatus.SUCCESS


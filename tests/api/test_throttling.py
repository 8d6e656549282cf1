"""Per-user rate limits on writes and on starting runs, configured by settings."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from runs.models import RunStatus
from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_run
from tests.plane_server import sign
from tests.runs.conftest import PLANE_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings, fake_clock):
    """limits(write=..., run=...) sets the rates (tests run without limits by default)."""
    cache.clear()

    def set_limits(*, write="", run=""):
        settings.API_THROTTLE_WRITE = write
        settings.API_THROTTLE_RUN = run

    yield set_limits
    cache.clear()


def create(client, name="s"):
    return client.post(f"{API}/schedules/", {**VALID_SCHEDULE, "name": name}, format="json")


def test_writes_over_the_limit_get_429_in_the_error_shape(api, alice, eddie, agent, limits):
    limits(write="2/min")
    client = api(alice)
    assert [create(client, f"s{i}").status_code for i in range(2)] == [201, 201]
    response = create(client, "one too many")
    body = assert_error(response, 429, "throttled")
    assert "try again in" in body["detail"] and int(response["Retry-After"]) > 0
    # Reads are not limited, and the limit is per user.
    assert client.get(f"{API}/schedules/").status_code == 200
    assert create(api(eddie), "eddie's").status_code == 201


def test_run_now_and_retry_have_their_own_limit(api, alice, schedule, limits):
    limits(run="2/min")
    client = api(alice)
    assert client.post(f"{API}/schedules/{schedule.pk}/run-now/").status_code == 202
    failed = make_run(schedule, status=RunStatus.FAILED)
    assert client.post(f"{API}/runs/{failed.pk}/retry/").status_code == 202
    assert_error(client.post(f"{API}/schedules/{schedule.pk}/run-now/"), 429, "throttled")
    assert_error(client.post(f"{API}/runs/{failed.pk}/retry/"), 429, "throttled")
    # Editing is a write, limited separately (here: not at all).
    assert client.patch(f"{API}/schedules/{schedule.pk}/", {"name": "renamed"}, format="json").status_code == 200


def test_the_planes_signed_callback_is_never_throttled(client, settings, limits):
    limits(write="1/min", run="1/min")
    settings.EXECUTION_PLANE_SECRET = PLANE_SECRET
    raw = json.dumps({"job_run_id": "no-such-run", "session_id": "s", "status": "success"}).encode()
    for _ in range(3):
        response = client.post(
            f"{API}/runs/callback/", data=raw, content_type="application/json", HTTP_X_SIGNATURE=sign(PLANE_SECRET, raw)
        )
        assert response.status_code == 200


def test_429_is_documented_on_every_write_operation(client):
    schema = client.get(f"{API}/schema/?format=json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete") and not path.endswith("/runs/callback/"):
                assert "429" in operation["responses"], (method, path)

"""API test helpers: clients that authenticate with real tokens, and small request helpers."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_schedule

API = "/api/v1"

# A create body that is valid in org acme (agent `echo`).
VALID_SCHEDULE = {
    "agent": "echo",
    "name": "Weekday report",
    "prompt": "Summarise yesterday's sales",
    "schedule_type": "cron",
    "cron_expression": "0 9 * * 1-5",
    "timezone": "Asia/Shanghai",
}


def client_for(user) -> APIClient:
    """A client that sends `Authorization: Token <key>` as the chat front end does."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api():
    """api(user) -> an authenticated client; api(None) -> an anonymous one."""
    return client_for


@pytest.fixture
def schedule(acme, agent, alice):
    return make_schedule(acme, agent, name="Acme nightly")


@pytest.fixture
def globex_schedule(globex, mallory):
    return make_schedule(globex, name="Globex nightly")


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The response is `status` in the one error shape; returns the body."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = response.json()
    assert set(body) >= {"code", "detail"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in body.get("errors", {}), body
        assert all(isinstance(m, str) and m for m in body["errors"][field]), body
    return body

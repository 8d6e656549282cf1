"""Schemathesis against the live schema (/api/v1/schema/) over every operation, with token auth.

Runs in-process over WSGI, inside the test's transaction: the schema is the one the app
serves, the requests go through the whole Django stack (middleware, auth, handler). Every
answer must be a documented status with a body that matches its schema, and never a 5xx.
Both valid and invalid inputs are generated (positive and negative modes).

Path ids are pointed at real objects most of the time, so object endpoints are exercised
beyond their 404.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from runs.models import RunStatus
from tests.factories import make_run

MAX_EXAMPLES = 30  # per operation and mode: up to 60 requests per operation

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = {
    "enabled": False,
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
}


@pytest.fixture
def api_objects(alice, schedule):
    run = make_run(schedule, status=RunStatus.FAILED)
    event = AuditEvent.objects.filter(schedule_id=schedule.pk).first()
    return {"schedules": str(schedule.pk), "runs": str(run.pk), "audit-events": str(event.pk)}


@pytest.fixture
def api_schema(alice, api_objects, fake_clock):
    # Django's test client detaches these too: closing the connection after each request
    # would end the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    token, _ = Token.objects.get_or_create(user=alice)
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Token {token.key}"},
            "generation": {"database": "none", "with-security-parameters": False},
            "checks": CHECKS,
        }
    )
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application(), config=config)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _fuzz(operation, mode, token_header, api_objects) -> int:
    """Run MAX_EXAMPLES cases of one operation in one mode; returns how many were sent."""
    sent = 0
    collection = operation.path.split("/")[3]  # /api/v1/<collection>/...
    real_id = api_objects.get(collection)

    @given(case=operation.as_strategy(generation_mode=mode), use_real_id=st.booleans())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case, use_real_id):
        nonlocal sent
        if real_id and use_real_id and case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = real_id
        case.call_and_validate(headers=token_header)
        sent += 1

    run()
    return sent


def test_every_operation_conforms_to_the_live_schema(api_schema, alice, api_objects):
    token_header = {"Authorization": f"Token {Token.objects.get(user=alice).key}"}
    failures, sent, operations = [], 0, 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                sent += _fuzz(operation, mode, token_header, api_objects)
            except Exception as exc:  # collect them all: one report for every broken operation
                failures.append(f"{operation.label} [{mode.value}]:\n{exc}")
    print(f"schemathesis: {operations} operations, {sent} requests")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)

"""Every endpoint x every persona -> the expected status, generated from one table.

The acme personas hold their role's permissions (schedules.permissions.ROLE_PERMISSIONS);
mallory is an admin of another org, so acme's objects do not exist for her (404) and she
cannot create in acme ("unknown org", 400); anonymous callers get 401 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from audit.models import AuditEvent
from runs.models import RunStatus
from schedules.permissions import DELETE, READ, ROLE_PERMISSIONS, RUN, WRITE
from tests.api.conftest import API, assert_error
from tests.factories import make_run

pytestmark = pytest.mark.django_db

CREATE = {
    "org": "acme",
    "agent": "echo",
    "name": "Matrix",
    "prompt": "Say hello",
    "schedule_type": "cron",
    "cron_expression": "0 9 * * *",
}

# Two days before the suite's now (T0), so both are past: backfill refuses future occurrences.
BACKFILL_RANGE = {"from": "2026-11-28T00:00:00Z", "to": "2026-11-30T00:00:00Z"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {schedule}, {run}, {event} are filled in
    perm: str | None  # None: any authenticated user
    ok: int
    scope: str  # "object": one acme object; "org": creates in acme; "global": lists and preview
    body: dict = field(default_factory=dict)


ENDPOINTS = [
    Endpoint("schedule-list", "get", "/schedules/", None, 200, "global"),
    Endpoint("schedule-create", "post", "/schedules/", WRITE, 201, "org", CREATE),
    Endpoint("schedule-get", "get", "/schedules/{schedule}/", READ, 200, "object"),
    Endpoint("schedule-patch", "patch", "/schedules/{schedule}/", WRITE, 200, "object", {"name": "Patched"}),
    Endpoint("schedule-put", "put", "/schedules/{schedule}/", WRITE, 200, "object", {**CREATE, "name": "Put"}),
    Endpoint("schedule-delete", "delete", "/schedules/{schedule}/", DELETE, 204, "object"),
    Endpoint("schedule-enable", "post", "/schedules/{schedule}/enable/", WRITE, 200, "object"),
    Endpoint("schedule-disable", "post", "/schedules/{schedule}/disable/", WRITE, 200, "object"),
    Endpoint("schedule-run-now", "post", "/schedules/{schedule}/run-now/", RUN, 202, "object"),
    Endpoint("schedule-runs", "get", "/schedules/{schedule}/runs/", READ, 200, "object"),
    Endpoint("schedule-dry-run", "post", "/schedules/{schedule}/dry-run/", READ, 200, "object"),
    Endpoint(
        "schedule-preview", "post", "/schedules/preview/", None, 200, "global",
        {"schedule_type": "cron", "cron_expression": "@daily"},
    ),
    Endpoint("schedule-backfill", "post", "/schedules/{schedule}/backfill/", RUN, 200, "object", BACKFILL_RANGE),
    Endpoint("schedule-occurrences", "get", "/schedules/{schedule}/occurrences/", READ, 200, "object", BACKFILL_RANGE),
    Endpoint("run-get", "get", "/runs/{run}/", READ, 200, "object"),
    Endpoint("run-retry", "post", "/runs/{run}/retry/", RUN, 202, "object"),
    Endpoint("audit-list", "get", "/audit-events/", None, 200, "global"),
    Endpoint("audit-get", "get", "/audit-events/{event}/", READ, 200, "object"),
]

PERSONAS = ["admin", "editor", "operator", "viewer", "outsider", "anonymous"]


def expected_status(persona: str, endpoint: Endpoint) -> int:
    if persona == "anonymous":
        return 401
    if persona == "outsider":
        return {"object": 404, "org": 400}.get(endpoint.scope, endpoint.ok)
    if endpoint.perm is None or endpoint.perm in ROLE_PERMISSIONS[persona]:
        return endpoint.ok
    return 403


def test_the_matrix_covers_every_documented_operation(client):
    """A new endpoint must get a row here (or this fails)."""
    import yaml

    schema = yaml.safe_load(client.get(f"{API}/schema/").content)
    documented = {
        (method, path.removeprefix(API))
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    ours = {(e.method, e.path.replace("{schedule}", "{id}").replace("{run}", "{id}").replace("{event}", "{id}"))
            for e in ENDPOINTS}
    # Endpoints of other parts (the plane's signed callback and LangGraph webhook, drafts,
    # metrics) are not user-facing object endpoints of this table.
    documented = {
        (method, path)
        for method, path in documented
        if path.startswith(("/schedules/", "/runs/", "/audit-events/"))
        and path != "/runs/callback/"
        and not path.startswith("/runs/langgraph/")
    }
    assert documented == ours


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(api, personas, schedule, fake_clock, persona, endpoint):
    run = make_run(schedule, status=RunStatus.FAILED)
    event = AuditEvent.objects.filter(schedule_id=schedule.pk).first()
    user = personas.get(persona)  # None for anonymous
    path = API + endpoint.path.format(schedule=schedule.pk, run=run.pk, event=event.pk)

    response = getattr(api(user), endpoint.method)(path, endpoint.body, format="json")

    want = expected_status(persona, endpoint)
    if want >= 400:
        body = assert_error(response, want)
        if want == 403:
            assert body["permission"] == endpoint.perm
        else:
            assert "permission" not in body  # a 404 must not hint at what is missing
    else:
        assert response.status_code == want, (response.status_code, response.json())
    if persona == "outsider" and response.status_code == 200 and "results" in response.json():
        rows = response.json()["results"]
        seen = {str(row.get("id")) for row in rows} | {str(row.get("schedule")) for row in rows}
        assert not seen & {str(schedule.pk), str(run.pk), str(event.pk)}

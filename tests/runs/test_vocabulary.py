"""One vocabulary for runs (runs/models.py). The HTTP plane's answers are read against one list of statuses, the contract's
(docs/execution-plane.md): a create answer, a poll and a callback accept exactly the same ones.
`timeout` is the control plane's own verdict (reconcile times runs out), never the plane's."""

from __future__ import annotations

from pathlib import Path

import pytest

from runs.models import RunErrorCode
from runs.plane import PlaneError, PlaneStatus
from runs.plane.base import result_from_body
from runs.plane.http import HttpPlaneClient
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.plane_server import PlaneServer
from tests.runs.conftest import PLANE_SECRET

pytestmark = pytest.mark.django_db


def create_answering(run, status: str):
    server = PlaneServer(secret=PLANE_SECRET).start()
    server._create = lambda key, request: (201, {"session_id": "sess_1", "status": status})
    try:
        return HttpPlaneClient(base_url=server.url, timeout=2, secret=PLANE_SECRET).start(run)
    finally:
        server.stop()


@pytest.fixture
def run(acme, agent, plane):
    return make_run(make_schedule(acme, agent), at=NINE)


@pytest.mark.parametrize("status", ["queued", "running", "success", "failed", "canceled"])
def test_every_contract_status_is_accepted_by_the_create_answer_and_the_result_body(run, status):
    assert create_answering(run, status).status == status
    assert result_from_body({"session_id": "sess_1", "status": status}).status == status


@pytest.mark.parametrize("status", ["timeout", "done", ""])
def test_a_status_outside_the_contract_is_a_bad_response_wherever_it_comes(run, status):
    with pytest.raises(PlaneError) as created:
        create_answering(run, status or "nonsense")
    with pytest.raises(PlaneError) as read:
        result_from_body({"session_id": "sess_1", "status": status})
    assert created.value.code == read.value.code == RunErrorCode.PLANE_BAD_RESPONSE
    assert "status" in created.value.message and "status" in read.value.message


def test_the_contract_is_the_plane_status_list_less_the_local_planes_timeout():
    assert set(PlaneStatus.CONTRACT) == set(PlaneStatus.ACTIVE + PlaneStatus.TERMINAL) - {PlaneStatus.TIMEOUT}


def test_every_code_the_control_plane_writes_has_a_readable_label():
    for code in RunErrorCode:
        assert code.label and code.label[0].isupper() and "_" not in code.label


def test_every_code_the_control_plane_writes_is_explained_for_operators():
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [code.value for code in RunErrorCode if f"`{code.value}`" not in operations]
    assert missing == []

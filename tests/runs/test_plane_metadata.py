"""What every session request tells the plane about where it comes from (docs/execution-plane.md):
trigger_type, schedule_id, job_run_id, attempt, and for a schedule made from chat, the chat."""

from __future__ import annotations

import json

import pytest

from runs.models import RunStatus, ScheduleRun
from tests.constants import NINE
from tests.factories import make_agent, make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload
from tests.runs.test_plane_local import decode

pytestmark = pytest.mark.django_db

def _sent_to_http_plane(plane, schedule, **fields) -> dict:
    run = make_run(schedule, at=NINE, **fields)
    assert inline_dispatcher().dispatch_ready(now=NINE) == 1
    [request] = [r for r in plane.requests if r["path"] == "/sessions"]
    return reload(run), json.loads(request["body"])["metadata"]


def test_a_schedule_from_chat_names_its_chat_session_to_the_http_plane(plane, acme, agent):
    schedule = make_schedule(acme, agent, source_session_id="sess-42", source_message_id="msg-7")
    run, metadata = _sent_to_http_plane(plane, schedule)
    assert metadata == {
        "trigger_type": "scheduled",
        "schedule_id": str(schedule.pk),
        "job_run_id": run.job_run_id,
        "attempt": 1,
        "scheduled_for": "2026-12-01T09:00:00Z",
        "org": "acme",
        "source_session_id": "sess-42",
        "scheduled_for_local": "2026-12-01T09:00:00+00:00",
        "timezone": "UTC",
    }


def test_the_plane_gets_the_occurrence_in_the_schedules_own_zone_and_the_resolved_prompt(plane, acme, agent):
    schedule = make_schedule(
        acme, agent, timezone="Asia/Shanghai", prompt="Summarise {{ yesterday }} ({{ yesterday|date:\"%Y年%m月%d日\" }})"
    )
    run, metadata = _sent_to_http_plane(plane, schedule)
    # 09:00Z is 17:00 in Shanghai on 1 December: yesterday there is 30 November.
    assert (metadata["scheduled_for_local"], metadata["timezone"]) == ("2026-12-01T17:00:00+08:00", "Asia/Shanghai")
    [request] = [r for r in plane.requests if r["path"] == "/sessions"]
    assert json.loads(request["body"])["prompt"] == "Summarise 2026-11-30 (2026年11月30日)"


def test_a_retry_of_a_schedule_made_by_hand_sends_its_attempt_and_no_chat(plane, acme, agent):
    schedule = make_schedule(acme, agent)
    run, metadata = _sent_to_http_plane(plane, schedule, trigger_type="retry", attempt=2)
    assert (metadata["trigger_type"], metadata["attempt"], metadata["job_run_id"]) == ("retry", 2, run.job_run_id)
    assert "source_session_id" not in metadata


def test_the_local_plane_gets_the_same_metadata_on_stdin(acme, local_plane):
    schedule = make_schedule(acme, make_agent(acme, "stdin"), output_type="json", source_session_id="sess-42")
    run = make_run(schedule, at=NINE)
    assert inline_dispatcher().dispatch_ready(now=NINE) == 1
    run = reload(run)
    assert run.status == RunStatus.SUCCESS, run.error_message
    metadata = json.loads(decode(run.outputs[0]))["metadata"]
    assert metadata["source_session_id"] == "sess-42"
    assert (metadata["trigger_type"], metadata["schedule_id"], metadata["attempt"]) == ("scheduled", str(schedule.pk), 1)
    assert metadata["job_run_id"] == run.job_run_id
    assert ScheduleRun.objects.count() == 1

"""Nothing runs for a disabled schedule or agent through the API: a manual retry is refused,
and `enabled` changed through PATCH/PUT does what disable/enable do (audit action included)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from runs.models import RunStatus, ScheduleRun, TriggerType
from runs.reconcile import reconcile
from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def actions(schedule):
    return list(AuditEvent.objects.filter(schedule_id=schedule.pk).order_by("id").values_list("action", flat=True))


def test_retry_of_a_run_whose_agent_is_disabled_is_409(api, olga, schedule, agent):
    failed = make_run(schedule, status=RunStatus.FAILED)
    agent.enabled = False
    agent.save()
    body = assert_error(api(olga).post(f"{API}/runs/{failed.pk}/retry/"), 409, "conflict")
    assert body["detail"] == "agent 'echo' is disabled, so this run cannot be retried"
    assert ScheduleRun.objects.count() == 1
    assert "retry" not in actions(schedule)


def test_retry_of_a_run_of_a_disabled_schedule_is_409(api, eddie, olga, schedule):
    failed = make_run(schedule, status=RunStatus.FAILED)
    assert api(eddie).post(f"{API}/schedules/{schedule.pk}/disable/").status_code == 200
    body = assert_error(api(olga).post(f"{API}/runs/{failed.pk}/retry/"), 409, "conflict")
    assert body["detail"] == "the schedule is disabled; enable it before retrying its runs"
    assert ScheduleRun.objects.count() == 1

    # Enabled again, the same retry is accepted.
    assert api(eddie).post(f"{API}/schedules/{schedule.pk}/enable/").status_code == 200
    assert api(olga).post(f"{API}/runs/{failed.pk}/retry/").status_code == 202


def test_patch_enabled_false_cancels_waiting_runs_and_audits_a_disable(api, eddie, schedule, fake_clock):
    failed = make_run(schedule, status=RunStatus.FAILED)
    waiting = make_run(schedule, status=RunStatus.QUEUED, attempt=2, trigger_type=TriggerType.RETRY, retry_of=failed)

    response = api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"enabled": False, "name": "Paused"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["enabled"] is False
    reconcile(now=fake_clock.now(), replica_id="test")  # the scheduler's next pass
    waiting.refresh_from_db()
    assert (waiting.status, waiting.error_code) == (RunStatus.CANCELED, "schedule_disabled")
    # The other field is an update; the switch is a disable, as POST .../disable/ records it.
    assert actions(schedule)[-2:] == ["update", "disable"]
    update = AuditEvent.objects.get(schedule_id=schedule.pk, action="update")
    assert (update.before, update.after) == ({"name": "Acme nightly"}, {"name": "Paused"})
    disable = AuditEvent.objects.get(schedule_id=schedule.pk, action="disable")
    assert (disable.before, disable.after) == ({"enabled": True}, {"enabled": False})
    assert disable.actor == eddie


def test_put_enabled_true_audits_an_enable_only(api, eddie, schedule):
    client = api(eddie)
    client.post(f"{API}/schedules/{schedule.pk}/disable/")
    body = {**VALID_SCHEDULE, "name": "Acme nightly", "cron_expression": "0 9 * * *", "timezone": "UTC", "enabled": True}

    response = client.put(f"{API}/schedules/{schedule.pk}/", body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["enabled"] is True and response.json()["next_run_at"]
    assert actions(schedule) == ["create", "disable", "enable"]

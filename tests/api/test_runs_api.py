"""Run endpoints: a schedule's runs, run detail, manual retry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from runs.models import RunStatus, ScheduleRun, TriggerType
from tests.api.conftest import API, assert_error
from tests.constants import T0
from tests.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def test_schedule_runs_newest_first_and_paginated(api, victor, schedule):
    runs = [make_run(schedule, status=RunStatus.SUCCESS, at=T0 - timedelta(hours=i)) for i in range(5)]
    client = api(victor)
    first = client.get(f"{API}/schedules/{schedule.pk}/runs/?page_size=3").json()
    assert [r["id"] for r in first["results"]] == [str(r.pk) for r in runs[:3]]
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [str(r.pk) for r in runs[3:]]
    assert second["next"] is None


def test_schedule_runs_filter_by_status(api, victor, schedule):
    failed = make_run(schedule, status=RunStatus.FAILED)
    make_run(schedule, status=RunStatus.SUCCESS, at=T0 + timedelta(hours=1))
    body = api(victor).get(f"{API}/schedules/{schedule.pk}/runs/?status=failed").json()
    assert [r["id"] for r in body["results"]] == [str(failed.pk)]
    assert_error(api(victor).get(f"{API}/schedules/{schedule.pk}/runs/?status=lost"), 400, "invalid", "status")


def test_schedule_runs_of_another_org_or_a_bad_id_are_404(api, alice, globex_schedule):
    make_run(globex_schedule, status=RunStatus.FAILED)
    assert_error(api(alice).get(f"{API}/schedules/{globex_schedule.pk}/runs/"), 404, "not_found")
    assert_error(api(alice).get(f"{API}/schedules/nope/runs/"), 404, "not_found")


def test_run_detail(api, victor, schedule):
    run = make_run(schedule, status=RunStatus.FAILED, error_code="plane_unreachable", error_message="refused")
    body = api(victor).get(f"{API}/runs/{run.pk}/").json()
    assert body["id"] == str(run.pk) and body["status"] == "failed" and body["error_code"] == "plane_unreachable"
    assert body["job_run_id"] == run.job_run_id and body["agent"] == "echo" and body["org"] == "acme"


def test_run_detail_of_another_org_is_404(api, alice, globex_schedule):
    run = make_run(globex_schedule, status=RunStatus.FAILED)
    body = assert_error(api(alice).get(f"{API}/runs/{run.pk}/"), 404, "not_found")
    assert "run" in body["detail"]


def test_run_detail_of_a_missing_run_is_404(api, alice):
    assert_error(api(alice).get(f"{API}/runs/00000000-0000-0000-0000-000000000000/"), 404, "not_found")


def test_retry_is_202_with_the_next_attempt_and_audited(api, olga, schedule):
    run = make_run(schedule, status=RunStatus.FAILED)
    response = api(olga).post(f"{API}/runs/{run.pk}/retry/")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["attempt"] == 2 and body["trigger_type"] == TriggerType.RETRY and body["retry_of"] == str(run.pk)
    assert body["status"] == "queued" and body["triggered_by"] == "olga"
    assert ScheduleRun.objects.filter(retry_of=run).count() == 1
    event = AuditEvent.objects.get(action="retry")
    assert event.actor == olga and event.schedule_id == schedule.pk and event.target_id == body["id"]
    assert event.before["attempt"] == 1 and event.after["attempt"] == 2


@pytest.mark.parametrize("state", [RunStatus.SUCCESS, RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.SKIPPED])
def test_retry_of_a_run_that_cannot_be_retried_is_409(api, olga, schedule, state):
    run = make_run(schedule, status=state)
    assert_error(api(olga).post(f"{API}/runs/{run.pk}/retry/"), 409, "conflict")
    assert ScheduleRun.objects.count() == 1


def test_retry_twice_while_the_first_retry_is_pending_is_409(api, olga, schedule):
    run = make_run(schedule, status=RunStatus.TIMEOUT)
    client = api(olga)
    assert client.post(f"{API}/runs/{run.pk}/retry/").status_code == 202
    assert_error(client.post(f"{API}/runs/{run.pk}/retry/"), 409, "conflict")
    assert AuditEvent.objects.filter(action="retry").count() == 1


def test_retry_by_a_viewer_is_403_naming_run(api, victor, schedule):
    run = make_run(schedule, status=RunStatus.FAILED)
    body = assert_error(api(victor).post(f"{API}/runs/{run.pk}/retry/"), 403, "permission_denied")
    assert body["permission"] == "schedules:run"


def test_retry_of_another_orgs_run_is_404(api, alice, globex_schedule):
    run = make_run(globex_schedule, status=RunStatus.FAILED)
    assert_error(api(alice).post(f"{API}/runs/{run.pk}/retry/"), 404, "not_found")
    assert ScheduleRun.objects.count() == 1

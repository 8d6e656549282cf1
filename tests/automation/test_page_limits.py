"""The pages' actions have the API's rate limits, from the same throttle classes and counts
(issue 19, item 1: the page's run-now answered 204 to 40 calls in a row and made 41 runs)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache

from runs.models import RunStatus, ScheduleRun
from runs.alerts.models import AlertChannel
from tests.constants import T0
from tests.factories import make_run, make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def schedule(acme, agent):
    return make_schedule(acme, agent, name="Sales")


def run_now(client, schedule):
    return client.post(f"/automation/schedules/{schedule.pk}/run-now/", {"idempotency_key": uuid.uuid4().hex}, headers={"HX-Request": "true"})


def test_run_now_on_the_page_stops_at_the_api_run_limit(signed_in, olga, schedule, settings):
    settings.API_THROTTLE_RUN = "30/min"
    client = signed_in(olga)
    statuses = [run_now(client, schedule).status_code for _ in range(40)]
    assert statuses == [204] * 30 + [429] * 10
    assert ScheduleRun.objects.count() == 30
    refused = run_now(client, schedule)
    assert int(refused["Retry-After"]) > 0 and "You did this too often" in refused.content.decode()


def test_the_page_and_the_api_draw_on_one_count(signed_in, olga, schedule, settings):
    from rest_framework.test import APIClient

    settings.API_THROTTLE_RUN = "3/min"
    api = APIClient()
    api.force_authenticate(olga)
    assert [api.post(f"/api/v1/schedules/{schedule.pk}/run-now/").status_code for _ in range(2)] == [202, 202]
    client = signed_in(olga)
    assert run_now(client, schedule).status_code == 204
    assert run_now(client, schedule).status_code == 429
    assert api.post(f"/api/v1/schedules/{schedule.pk}/run-now/").status_code == 429


def test_retry_and_backfill_on_the_page_share_the_run_limit(signed_in, olga, acme, agent, schedule, settings):
    settings.API_THROTTLE_RUN = "2/min"
    client = signed_in(olga)
    failed = [make_run(schedule, at=T0 + timedelta(hours=i), status=RunStatus.FAILED) for i in range(3)]
    assert client.post(f"/automation/runs/{failed[0].pk}/retry/").status_code == 302
    assert client.post(f"/automation/runs/{failed[1].pk}/retry/").status_code == 302
    assert client.post(f"/automation/runs/{failed[2].pk}/retry/").status_code == 429
    assert client.post(f"/automation/schedules/{schedule.pk}/backfill/", {"from": "", "to": ""}).status_code == 429


def test_adding_channels_and_other_changes_stop_at_the_api_write_limit(signed_in, alice, settings):
    settings.API_THROTTLE_WRITE = "3/min"
    client = signed_in(alice)
    statuses = [
        client.post("/automation/alerts/channels/?org=acme", {"new-kind": "email", "new-name": f"Ops {i}", "new-target": f"o{i}@example.com"}).status_code
        for i in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
    assert AlertChannel.objects.count() == 3
    assert client.get("/automation/alerts/?org=acme").status_code == 200, "reads are not limited"

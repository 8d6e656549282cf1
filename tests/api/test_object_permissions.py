"""Permissions beyond the org role: guardian object grants and staff model permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from guardian.shortcuts import assign_perm

from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_org, make_schedule, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def test_an_object_grant_shows_and_allows_only_that_schedule(api, acme, agent, schedule):
    other = make_schedule(acme, agent, name="Not shared")
    contractor = make_user("carl", make_org("elsewhere"), "admin")
    assign_perm("schedules.schedules_run", contractor, schedule)
    client = api(contractor)

    ids = [row["id"] for row in client.get(f"{API}/schedules/").json()["results"]]
    assert ids == [str(schedule.pk)]
    assert client.get(f"{API}/schedules/{schedule.pk}/").status_code == 200
    assert client.post(f"{API}/schedules/{schedule.pk}/run-now/").status_code == 202
    body = assert_error(client.patch(f"{API}/schedules/{schedule.pk}/", {"name": "x"}, format="json"), 403)
    assert body["permission"] == "schedules:write"
    assert_error(client.get(f"{API}/schedules/{other.pk}/"), 404)
    # Creating needs the role in the org, not a grant on one schedule.
    assert_error(client.post(f"{API}/schedules/", {**VALID_SCHEDULE, "org": "acme"}, format="json"), 400, "invalid", "org")


def test_an_object_grant_adds_to_the_role(api, victor, schedule):
    assign_perm("schedules.schedules_write", victor, schedule)
    response = api(victor).patch(f"{API}/schedules/{schedule.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200


def test_staff_model_permission_reads_every_org(api, schedule, globex_schedule):
    support = make_user("sam", is_staff=True)
    support.user_permissions.add(Permission.objects.get(codename="schedules_read"))
    client = api(support)
    ids = {row["id"] for row in client.get(f"{API}/schedules/").json()["results"]}
    assert ids == {str(schedule.pk), str(globex_schedule.pk)}
    body = assert_error(client.post(f"{API}/schedules/{schedule.pk}/disable/"), 403)
    assert body["permission"] == "schedules:write"

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


# --- the selector functions themselves --------------------------------------------------


def test_org_permissions_follow_the_role(personas, acme):
    from schedules.permissions import DELETE, READ, RUN, WRITE, grants_for

    def org_permissions(user, org):
        return set(grants_for(user).for_org(org.pk))

    assert org_permissions(personas["viewer"], acme) == {READ}
    assert org_permissions(personas["operator"], acme) == {READ, RUN}
    assert org_permissions(personas["editor"], acme) == {READ, WRITE, RUN}
    assert org_permissions(personas["admin"], acme) == {READ, WRITE, RUN, DELETE}
    assert org_permissions(personas["outsider"], acme) == set()


def test_a_group_object_grant_counts(acme, agent, schedule):
    from django.contrib.auth.models import Group

    from schedules.permissions import RUN, WRITE
    from schedules.selectors import schedules_visible_to

    member = make_user("gina", make_org("elsewhere"), "viewer")
    team = Group.objects.create(name="night-shift")
    member.groups.add(team)
    assert not has_schedule_perm(member, schedule, RUN)
    assign_perm("schedules.schedules_run", team, schedule)
    assert has_schedule_perm(member, schedule, RUN) and not has_schedule_perm(member, schedule, WRITE)
    assert list(schedules_visible_to(member)) == [schedule]


def test_superuser_holds_every_permission_in_every_org(personas, acme, globex):
    from schedules.permissions import RUN, grants_for

    assert grants_for(personas["operator"]).org_ids(RUN) == [acme.pk]
    assert grants_for(personas["viewer"]).org_ids(RUN) == []
    root = make_user("root", superuser=True, password="pw")
    assert RUN in grants_for(root).for_org(acme.pk) and RUN in grants_for(root).for_org(globex.pk)


def has_schedule_perm(user, schedule, perm) -> bool:
    from schedules.permissions import grants_for

    return perm in grants_for(user).for_schedule(schedule)


def test_an_inactive_member_holds_nothing(alice, schedule):
    from schedules.permissions import READ
    from schedules.selectors import schedules_visible_to

    alice.is_active = False
    alice.save()
    assert not has_schedule_perm(alice, schedule, READ)
    assert not schedules_visible_to(alice).exists()

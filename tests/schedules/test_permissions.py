"""The permission selector raises domain errors, so pages, the admin and commands reuse it."""

from __future__ import annotations

import pytest

from config.errors import MissingPermission, NotVisible
from schedules.permissions import DELETE, READ, WRITE
from schedules.selectors import get_schedule_for
from tests.factories import make_agent, make_schedule

pytestmark = pytest.mark.django_db


def test_another_orgs_schedule_is_not_visible(acme, agent, mallory):
    schedule = make_schedule(acme, agent)
    with pytest.raises(NotVisible, match="schedule not found"):
        get_schedule_for(mallory, schedule.pk, READ)


def test_a_malformed_id_is_not_visible(alice):
    with pytest.raises(NotVisible):
        get_schedule_for(alice, "not-a-uuid", READ)


@pytest.mark.parametrize("perm", [WRITE, DELETE])
def test_a_viewer_is_told_which_permission_is_missing(acme, agent, victor, perm):
    schedule = make_schedule(acme, agent)
    with pytest.raises(MissingPermission) as excinfo:
        get_schedule_for(victor, schedule.pk, perm)
    assert excinfo.value.permission == perm
    assert excinfo.value.message == f"missing permission {perm}"


def test_the_owner_org_admin_gets_the_schedule(acme, agent, alice, globex):
    schedule = make_schedule(acme, agent)
    make_schedule(globex, make_agent(globex, "other"))
    assert get_schedule_for(alice, str(schedule.pk), DELETE) == schedule

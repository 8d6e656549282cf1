"""Read helpers: org scoping, and the derived status as a queryset filter."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from schedules.models import Schedule, ScheduleStatus
from schedules.selectors import schedule_get, schedule_status_filter, schedules_for_org
from tests.constants import T0
from tests.factories import make_agent, make_schedule

pytestmark = pytest.mark.django_db


def test_schedule_get_finds_the_orgs_schedule(acme, agent):
    schedule = make_schedule(acme, agent)
    assert schedule_get(acme, schedule.pk) == schedule
    assert schedule_get(acme, str(schedule.pk)) == schedule


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", None, 42])
def test_schedule_get_treats_a_malformed_id_as_missing(acme, bad_id):
    with pytest.raises(Schedule.DoesNotExist):
        schedule_get(acme, bad_id)


def test_schedule_get_hides_another_orgs_schedule(acme, globex):
    foreign = make_schedule(globex, make_agent(globex, "spy"))
    with pytest.raises(Schedule.DoesNotExist):
        schedule_get(acme, foreign.pk)
    with pytest.raises(Schedule.DoesNotExist):
        schedule_get(acme, uuid.uuid4())


def test_schedules_for_org_lists_only_that_org_newest_first_in_one_query(
    acme, globex, agent, django_assert_num_queries
):
    first = make_schedule(acme, agent, name="first", now=T0)
    second = make_schedule(acme, agent, name="second", now=T0 + timedelta(minutes=1))
    make_schedule(globex, make_agent(globex, "spy"), name="foreign")
    with django_assert_num_queries(1):
        rows = [(s.name, s.agent.slug, s.org.slug) for s in schedules_for_org(acme)]
    assert rows == [("second", "echo", "acme"), ("first", "echo", "acme")]
    assert {s.pk for s in schedules_for_org(acme)} == {first.pk, second.pk}


@pytest.fixture
def one_of_each_status(acme, agent):
    ok = make_schedule(acme, agent, name="ok")
    failing = make_schedule(acme, agent, name="failing")
    Schedule.objects.filter(pk=failing.pk).update(consecutive_failures=2)
    disabled = make_schedule(acme, agent, name="disabled", enabled=False)
    finished = make_schedule(acme, agent, name="finished", schedule_type="once", run_at=T0 + timedelta(hours=1))
    # As after the scheduler fired it: a once schedule with nothing left to run.
    Schedule.objects.filter(pk=finished.pk).update(next_run_at=None, last_run_at=T0 + timedelta(hours=1))
    # A disabled schedule that also failed is "disabled", not "failing" (Schedule.status order).
    disabled_failing = make_schedule(acme, agent, name="disabled-failing", enabled=False)
    Schedule.objects.filter(pk=disabled_failing.pk).update(consecutive_failures=5)
    return {"ok": ok, "failing": failing, "disabled": disabled, "finished": finished}


@pytest.mark.parametrize("status", ScheduleStatus.values)
def test_status_filter_agrees_with_schedule_status(one_of_each_status, acme, status):
    everything = schedules_for_org(acme)
    filtered = {s.name for s in schedule_status_filter(everything, status)}
    by_property = {s.name for s in everything if s.status == status}
    assert filtered == by_property
    assert one_of_each_status[status].name in filtered


def test_status_filter_without_status_returns_everything(one_of_each_status, acme):
    assert schedule_status_filter(schedules_for_org(acme), "").count() == 5
    assert schedule_status_filter(schedules_for_org(acme), None).count() == 5


def test_status_filter_rejects_an_unknown_status_naming_the_choices(acme):
    with pytest.raises(ValueError, match="ok, failing, disabled, finished"):
        schedule_status_filter(schedules_for_org(acme), "broken")

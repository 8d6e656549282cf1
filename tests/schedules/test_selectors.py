"""The derived status as a queryset filter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schedules.models import Schedule, ScheduleStatus
from schedules.selectors import schedule_status_filter
from tests.constants import T0
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db


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
    everything = Schedule.objects.filter(org=acme)
    filtered = {s.name for s in schedule_status_filter(everything, status)}
    by_property = {s.name for s in everything if s.status == status}
    assert filtered == by_property
    assert one_of_each_status[status].name in filtered


def test_status_filter_without_status_returns_everything(one_of_each_status, acme):
    assert schedule_status_filter(Schedule.objects.filter(org=acme), "").count() == 5
    assert schedule_status_filter(Schedule.objects.filter(org=acme), None).count() == 5


def test_status_filter_rejects_an_unknown_status_naming_the_choices(acme):
    with pytest.raises(ValueError, match="ok, failing, disabled, finished"):
        schedule_status_filter(Schedule.objects.filter(org=acme), "broken")

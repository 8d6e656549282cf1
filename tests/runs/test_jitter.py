"""Jitter: a schedule's runs start a fixed delay after their time, within its window; the
run row is written on time and waits, queued, until then. Off by default."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.firing import fire_due
from runs.models import RunStatus, ScheduleRun
from schedules.timing import jitter_delay
from tests.constants import NINE
from tests.factories import make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def test_each_jittered_run_waits_a_fixed_delay_within_the_window(acme, agent):
    jittered = [make_schedule(acme, agent, name=f"j{i}", jitter_seconds=300) for i in range(20)]
    on_time = make_schedule(acme, agent, name="on time")

    fire_due(now=NINE, batch_size=100)

    runs = {run.schedule_id: run for run in ScheduleRun.objects.all()}
    delays = [runs[s.pk].not_before - NINE for s in jittered]
    assert all(timedelta(0) <= d < timedelta(seconds=300) for d in delays)
    assert len(set(delays)) > 10  # spread over the window, not one shared delay
    # Deterministic: the delay is the schedule's and the occurrence's, whoever fires it.
    assert delays == [jitter_delay(s.pk, NINE, 300) for s in jittered]
    assert all(runs[s.pk].scheduled_for == NINE for s in jittered)  # the occurrence stays the time
    assert runs[on_time.pk].not_before is None
    assert jitter_delay(jittered[0].pk, NINE + timedelta(days=1), 300) != delays[0]  # per occurrence


def test_a_jittered_run_reaches_the_plane_only_after_its_delay(acme, agent, plane):
    schedule = make_schedule(acme, agent, jitter_seconds=600)
    fire_due(now=NINE, batch_size=100)
    run = ScheduleRun.objects.get(schedule=schedule)
    dispatcher = inline_dispatcher()

    assert dispatcher.dispatch_ready(now=run.not_before - timedelta(milliseconds=1)) == 0
    assert reload(run).status == RunStatus.QUEUED and plane.create_calls == 0
    assert dispatcher.dispatch_ready(now=run.not_before) == 1
    assert reload(run).status == RunStatus.RUNNING


def test_jitter_wider_than_an_hour_is_refused(acme, agent):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        make_schedule(acme, agent, jitter_seconds=3601)
    assert "jitter_seconds must be between 0 and 3600" in str(caught.value.message_dict["jitter_seconds"])

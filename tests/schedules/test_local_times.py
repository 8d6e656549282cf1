"""A date-time without an offset (run_at, start_at, end_at, as a person types it into a
form) is local time in the schedule's zone: a time in a gap moves to the first instant after
it, a repeated time means its first occurrence. One function (timing.read_local_times) reads
them; the services and the API preview call it."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.exceptions import ValidationError

from audit.services import Actor
from schedules import services, timing
from schedules.timing import Spec
from tests.api.conftest import API, client_for
from tests.constants import UTC, T0

NEW_YORK = "America/New_York"
# New York in 2027: 02:00-02:59 on March 14 does not exist; 01:00-01:59 on November 7 happens
# twice (first at UTC-04:00, then at UTC-05:00).
IN_GAP = datetime(2027, 3, 14, 2, 30)
REPEATED = datetime(2027, 11, 7, 1, 30)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def once(run_at, zone=NEW_YORK, **window) -> Spec:
    return Spec(schedule_type="once", timezone=zone, run_at=run_at, **window)


# --- timing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "zone", "instant"),
    [
        (datetime(2027, 1, 15, 9, 0), NEW_YORK, "2027-01-15T14:00:00Z"),
        (datetime(2027, 7, 15, 9, 0), NEW_YORK, "2027-07-15T13:00:00Z"),
        (IN_GAP, NEW_YORK, "2027-03-14T07:00:00Z"),  # 03:00 EDT, the first instant after the gap
        (REPEATED, NEW_YORK, "2027-11-07T05:30:00Z"),  # the first 01:30, still EDT
        (datetime(2027, 1, 15, 9, 0), "Asia/Shanghai", "2027-01-15T01:00:00Z"),
        (datetime(2027, 1, 15, 9, 0), "UTC", "2027-01-15T09:00:00Z"),
    ],
)
def test_a_naive_run_at_is_local_time_in_the_schedules_zone(wall, zone, instant):
    spec = timing.read_local_times(once(wall, zone))
    assert spec.run_at == z(instant) and spec.run_at.tzinfo is UTC


def test_start_and_end_are_read_in_the_zone_and_aware_values_are_kept():
    aware = z("2027-06-01T00:00:00Z")
    spec = Spec(schedule_type="cron", timezone=NEW_YORK, cron_expression="0 9 * * *",
                start_at=IN_GAP, end_at=aware)
    read = timing.read_local_times(spec)
    assert (read.start_at, read.end_at, read.cron_expression) == (z("2027-03-14T07:00:00Z"), aware, "0 9 * * *")


def test_an_unknown_zone_leaves_the_times_for_validation_to_report():
    spec = timing.read_local_times(once(REPEATED, "Mars/Base"))
    assert spec.run_at == REPEATED
    with pytest.raises(timing.ScheduleError) as err:
        timing.validate_spec(spec, now=T0)
    assert err.value.field == "timezone"


@pytest.mark.parametrize(
    ("run_at", "english", "chinese"),
    [
        (REPEATED, "Once at 2027-11-07 01:30 (UTC-04:00) America/New_York",
         "在 2027-11-07 01:30 (UTC-04:00) America/New_York 执行一次"),
        (z("2027-11-07T06:30:00Z"), "Once at 2027-11-07 01:30 (UTC-05:00) America/New_York",
         "在 2027-11-07 01:30 (UTC-05:00) America/New_York 执行一次"),
        (IN_GAP, "Once at 2027-03-14 03:00 America/New_York", "在 2027-03-14 03:00 America/New_York 执行一次"),
        (datetime(2027, 11, 7, 2, 30), "Once at 2027-11-07 02:30 America/New_York",
         "在 2027-11-07 02:30 America/New_York 执行一次"),
    ],
)
def test_a_once_description_shows_the_offset_when_the_local_time_happens_twice(run_at, english, chinese):
    spec = timing.read_local_times(once(run_at))
    assert (timing.describe(spec), timing.describe(spec, "zh-hans")) == (english, chinese)


# --- services ---------------------------------------------------------------------------


@pytest.fixture
def actor(alice):
    return Actor(user=alice, request_id="req-1", client_ip="127.0.0.1")


@pytest.mark.django_db
def test_create_reads_a_naive_run_at_in_the_schedules_zone(acme, agent, actor):
    schedule = services.schedule_create(
        actor=actor, org=acme, now=T0,
        data={"agent": agent, "name": "Gap", "prompt": "p", "schedule_type": "once", "timezone": NEW_YORK,
              "run_at": IN_GAP},
    )
    schedule.refresh_from_db()
    assert schedule.run_at == schedule.next_run_at == z("2027-03-14T07:00:00Z")


@pytest.mark.django_db
def test_update_reads_naive_times_in_the_zone_it_sets(acme, agent, actor):
    schedule = services.schedule_create(
        actor=actor, org=acme, now=T0,
        data={"agent": agent, "name": "Daily", "prompt": "p", "schedule_type": "cron", "cron_expression": "0 9 * * *"},
    )
    schedule = services.schedule_update(
        actor=actor, schedule=schedule, now=T0,
        data={"timezone": "Asia/Shanghai", "start_at": datetime(2027, 1, 15, 9, 0)},
    )
    schedule.refresh_from_db()
    assert schedule.start_at == schedule.next_run_at == z("2027-01-15T01:00:00Z")


@pytest.mark.django_db
def test_a_naive_time_with_an_unknown_zone_is_a_timezone_error(acme, agent, actor):
    with pytest.raises(ValidationError) as err:
        services.schedule_create(
            actor=actor, org=acme, now=T0,
            data={"agent": agent, "name": "X", "prompt": "p", "schedule_type": "once", "timezone": "Mars/Base",
                  "run_at": REPEATED},
        )
    assert list(err.value.message_dict) == ["timezone"]


# --- API --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_create_reads_a_naive_run_at_as_local_time(alice, agent, fake_clock):
    body = {"agent": "echo", "name": "Once", "prompt": "p", "schedule_type": "once", "timezone": NEW_YORK,
            "run_at": "2027-11-07T01:30:00"}
    response = client_for(alice).post(f"{API}/schedules/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["run_at"], created["next_run_at"]) == ("2027-11-07T05:30:00Z", "2027-11-07T05:30:00Z")
    assert created["timing_description"] == "Once at 2027-11-07 01:30 (UTC-04:00) America/New_York"


@pytest.mark.django_db
def test_api_preview_reads_naive_times_as_local_time(victor, fake_clock):
    response = client_for(victor).post(
        f"{API}/schedules/preview/",
        {"schedule_type": "once", "timezone": NEW_YORK, "run_at": "2027-03-14T02:30:00"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["next_runs"], body["next_runs_local"]) == (["2027-03-14T07:00:00Z"], ["2027-03-14T03:00:00-04:00"])


@pytest.mark.django_db
def test_api_end_before_start_is_a_400_whether_or_not_they_have_offsets(alice, agent, fake_clock):
    body = {"agent": "echo", "name": "Window", "prompt": "p", "cron_expression": "0 9 * * *", "timezone": NEW_YORK,
            "start_at": "2027-01-15T09:00:00", "end_at": "2027-01-15T13:00:00Z"}  # 13:00Z is 08:00 in New York
    response = client_for(alice).post(f"{API}/schedules/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["end_at"] == [
        "end_at 2027-01-15T13:00:00Z must be after start_at 2027-01-15T14:00:00Z"
    ]

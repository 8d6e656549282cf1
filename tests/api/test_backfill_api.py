"""POST /api/v1/schedules/{id}/backfill/: permissions, bounds, the answer, the audit."""

from __future__ import annotations

import pytest

from audit.models import AuditAction, AuditEvent
from runs.models import RunStatus, ScheduleRun, TriggerType
from tests.api.conftest import API, assert_error
from tests.constants import NINE
from tests.factories import make_run

pytestmark = pytest.mark.django_db

RANGE = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-04T00:00:00Z"}


@pytest.fixture(autouse=True)
def _three_days_later(fake_clock):
    # The schedule (09:00 UTC daily, created at T0) was due three times since.
    fake_clock.advance(days=3)
    return fake_clock


def url(schedule):
    return f"{API}/schedules/{schedule.pk}/backfill/"


def test_queues_the_missing_occurrences_and_is_audited(api, olga, schedule):
    make_run(schedule, at=NINE, status=RunStatus.SUCCESS)
    response = api(olga).post(url(schedule), RANGE, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["scheduled_for"] == ["2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z"]
    assert (body["expected"], body["already_run"], body["remaining"], body["dry_run"]) == (3, 1, 0, False)
    assert body["from"] == "2026-12-01T00:00:00Z" and body["to"] == "2026-12-04T00:00:00Z"
    runs = ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL)
    assert sorted(str(r.pk) for r in runs) == sorted(body["runs"])
    event = AuditEvent.objects.get(action=AuditAction.BACKFILL)
    assert (event.actor_label, event.schedule_id) == ("olga", schedule.pk)

    again = api(olga).post(url(schedule), RANGE, format="json")
    assert again.status_code == 200
    assert (again.json()["already_run"], again.json()["runs"]) == (3, [])


def test_dry_run_answers_200_with_the_list_and_queues_nothing(api, olga, schedule):
    response = api(olga).post(url(schedule), {**RANGE, "dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["scheduled_for"] == [f"2026-12-0{d}T09:00:00Z" for d in (1, 2, 3)]
    assert not ScheduleRun.objects.exists()


def test_a_time_without_offset_is_read_in_the_schedule_zone(api, olga, schedule):
    schedule.timezone = "Asia/Shanghai"
    schedule.save(update_fields=["timezone"])
    # 12-02 17:00 Shanghai is 09:00 UTC: the exclusive end leaves out 12-02 09:00 UTC.
    body = api(olga).post(
        url(schedule), {"from": "2026-12-01T00:00", "to": "2026-12-02T17:00", "dry_run": True}, format="json"
    ).json()
    assert body["to"] == "2026-12-02T09:00:00Z"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"from": "2026-12-03T00:00:00Z", "to": "2026-12-02T00:00:00Z"}, "to"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-12-05T00:00:00Z"}, "to"),  # in the future
        ({"from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),  # longer than 31 days
        ({"from": "yesterday", "to": "2026-12-02T00:00:00Z"}, "from"),
        ({"to": "2026-12-02T00:00:00Z"}, "from"),
        ({"from": "9999-12-31T23:59:59-14:00", "to": "2026-12-02T00:00:00Z"}, "from"),
        ({"from": "9999-12-31T23:59:59", "to": "2026-12-02T00:00:00Z"}, "from"),  # naive: the schedule's zone
    ],
)
def test_bad_ranges_are_400_naming_the_field(api, olga, schedule, data, field):
    assert_error(api(olga).post(url(schedule), data, format="json"), 400, "invalid", field)
    assert not ScheduleRun.objects.exists()


def test_needs_run_permission_and_hides_other_orgs(api, victor, mallory, schedule):
    body = assert_error(api(victor).post(url(schedule), RANGE, format="json"), 403)
    assert body["permission"] == "schedules:run"
    assert_error(api(mallory).post(url(schedule), RANGE, format="json"), 404, "not_found")
    assert_error(api(None).post(url(schedule), RANGE, format="json"), 401)


def test_an_unknown_field_is_400_not_ignored(api, olga, schedule):
    assert_error(api(olga).post(url(schedule), {**RANGE, "dryrun": True}, format="json"), 400, "invalid", "dryrun")
    assert not ScheduleRun.objects.exists()


def test_a_disabled_schedule_is_409(api, olga, schedule):
    schedule.enabled = False
    schedule.save(update_fields=["enabled"])
    assert_error(api(olga).post(url(schedule), RANGE, format="json"), 409, "conflict")


def test_in_the_schema(api, victor):
    schema = api(victor).get(f"{API}/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/schedules/{id}/backfill/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])


def occurrences_url(schedule):
    return f"{API}/schedules/{schedule.pk}/occurrences/"


def test_occurrences_say_what_happened_and_what_a_backfill_would_run(api, victor, schedule):
    make_run(schedule, at=NINE, status=RunStatus.SUCCESS)
    body = api(victor).get(occurrences_url(schedule), RANGE).json()
    rows = [(o["scheduled_for"], o["outcome"], o["run_status"], o["backfillable"]) for o in body["occurrences"]]
    assert rows == [
        ("2026-12-01T09:00:00Z", "ran", "success", False),
        ("2026-12-02T09:00:00Z", "no_record", None, True),
        ("2026-12-03T09:00:00Z", "no_record", None, True),
    ]
    assert body["left_out"] == 0


def test_occurrences_bounds_and_visibility(api, victor, mallory, schedule):
    assert_error(api(victor).get(occurrences_url(schedule), {"from": RANGE["from"]}), 400, "invalid", "to")
    assert_error(
        api(victor).get(occurrences_url(schedule), {"from": "2026-10-01T00:00:00Z", "to": RANGE["to"]}), 400, "invalid", "to"
    )
    assert_error(api(mallory).get(occurrences_url(schedule), RANGE), 404, "not_found")


def test_a_range_refused_is_explained_in_the_requested_language(api, olga, schedule):
    future = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-05T00:00:00Z"}
    english = assert_error(api(olga).post(url(schedule), future, format="json"), 400, "invalid", "to")
    chinese = assert_error(
        api(olga).post(url(schedule), future, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"), 400, "invalid", "to"
    )
    assert english["errors"]["to"] == ["must not be later than now (2026-12-04T00:00:00+00:00): future occurrences run on their own"]
    assert chinese["errors"]["to"] == ["不能晚于现在（2026-12-04T00:00:00+00:00）：未来的触发会按时自动运行"]

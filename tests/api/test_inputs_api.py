"""Run variables and workday calendars through the API: refusals on save, the preview's
calendar, the dry run, and what a run's snapshot keeps (firing, backfill, retry, run-now)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runs.models import ScheduleRun, TriggerType
from runs.services.lifecycle import build_retry
from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_run, make_schedule

pytestmark = pytest.mark.django_db
UTC = timezone.utc


def test_an_unknown_variable_is_a_400_naming_it(api, eddie, agent):
    body = {**VALID_SCHEDULE, "prompt": "Sales of {{ today }}"}
    error = assert_error(api(eddie).post(f"{API}/schedules/", body, format="json"), 400, field="prompt")
    assert "unknown variable 'today'" in error["errors"]["prompt"][0]


def test_an_unclosed_brace_is_a_400_that_says_how_to_write_a_literal(api, eddie, agent):
    body = {**VALID_SCHEDULE, "prompt": "Answer as {{ JSON"}
    error = assert_error(api(eddie).post(f"{API}/schedules/", body, format="json"), 400, field="prompt")
    assert '{{ "{{" }}' in error["errors"]["prompt"][0]


def test_a_once_schedule_with_a_calendar_is_a_400(api, eddie, agent, fake_clock):
    body = {**VALID_SCHEDULE, "schedule_type": "once", "run_at": "2026-12-20T09:00:00+08:00", "calendar": "cn-workdays"}
    assert_error(api(eddie).post(f"{API}/schedules/", body, format="json"), 400, field="calendar")


def test_an_unknown_calendar_is_a_400_in_words(api, eddie, agent):
    body = {**VALID_SCHEDULE, "calendar": "xx-workdays"}
    error = assert_error(api(eddie).post(f"{API}/schedules/", body, format="json"), 400, field="calendar")
    assert "'xx'" in error["errors"]["calendar"][0]


def test_the_china_preset_is_saved_and_skips_national_day(api, eddie, agent, fake_clock):
    body = {**VALID_SCHEDULE, "cron_expression": "0 9 * * *", "calendar": "cn-workdays"}
    response = api(eddie).post(f"{API}/schedules/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["calendar"] == "cn-workdays"
    assert "on workdays of cn-workdays" in response.json()["timing_description"]


def test_preview_honours_the_calendar_and_names_what_it_added_and_removed(api, victor):
    body = {
        "schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": "Asia/Shanghai",
        "calendar": "cn-workdays", "after": "2026-09-18T02:00:00Z", "count": 9,
    }
    response = api(victor).post(f"{API}/schedules/preview/", body, format="json")
    assert response.status_code == 200, response.json()
    answer = response.json()
    dates = [local[:10] for local in answer["next_runs_local"]]
    # Sunday 20 September is a make-up workday; 25 September (Mid-autumn) and 1-7 October are off.
    assert dates == [
        "2026-09-20", "2026-09-21", "2026-09-22", "2026-09-23", "2026-09-24", "2026-09-28", "2026-09-29", "2026-09-30",
        "2026-10-08",
    ]
    changes = {c["date"]: (c["change"], c["reason"]) for c in answer["calendar"]["changes"]}
    assert changes["2026-09-20"][0] == "added"
    assert changes["2026-09-25"] == ("removed", "not a workday in cn-workdays: Mid-autumn Festival")
    assert changes["2026-10-01"] == ("removed", "not a workday in cn-workdays: National Day")
    assert answer["calendar"]["warning"] == ""
    assert answer["calendar"]["data_range"][0] <= 2025


def test_preview_warns_when_the_expression_also_restricts_weekdays(api, victor):
    body = {"schedule_type": "cron", "cron_expression": "0 9 * * 1-5", "timezone": "Asia/Shanghai", "calendar": "cn-workdays"}
    answer = api(victor).post(f"{API}/schedules/preview/", body, format="json").json()
    assert "restricts the days of the week" in answer["calendar"]["warning"]


def test_preview_without_a_calendar_answers_null(api, victor):
    body = {"schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": "UTC"}
    assert api(victor).post(f"{API}/schedules/preview/", body, format="json").json()["calendar"] is None


def test_dry_run_answers_what_the_plane_would_get_and_creates_nothing(api, victor, acme, agent, fake_clock):
    schedule = make_schedule(
        acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", calendar="cn-workdays",
        prompt="Summarise the sales of {{ yesterday }} by region.",
    )
    fake_clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))  # 10:00 on 30 September in Shanghai
    response = api(victor).post(f"{API}/schedules/{schedule.pk}/dry-run/")
    assert response.status_code == 200, response.json()
    answer = response.json()
    # The next workday is 8 October: the National Day week is off.
    assert answer["scheduled_for"] == "2026-10-08T01:00:00Z"
    assert answer["request"]["prompt"] == "Summarise the sales of 2026-10-07 by region."
    metadata = answer["request"]["metadata"]
    assert (metadata["scheduled_for_local"], metadata["timezone"]) == ("2026-10-08T09:00:00+08:00", "Asia/Shanghai")
    assert metadata["job_run_id"].endswith("-20261008T010000Z-1")
    assert answer["variables"]["yesterday"] == "2026-10-07"
    decisions = answer["calendar"]["decisions"]
    assert len(decisions) == 10 and decisions[0]["date"] == "2026-09-30" and decisions[0]["workday"]
    assert decisions[1] == {
        "date": "2026-10-01", "workday": False, "reason": "not a workday in cn-workdays: National Day", "missing_data": False
    }
    assert decisions[10 - 1]["date"] == "2026-10-09"
    assert ScheduleRun.objects.count() == 0


def test_dry_run_of_another_orgs_schedule_is_a_404(api, mallory, schedule):
    assert_error(api(mallory).post(f"{API}/schedules/{schedule.pk}/dry-run/"), 404)


def test_a_run_stores_the_resolved_prompt_and_its_values_and_a_retry_keeps_them(acme, agent):
    schedule = make_schedule(acme, agent, timezone="Asia/Shanghai", prompt="Report for {{ date }}")
    run = make_run(schedule, at=datetime(2026, 12, 3, 16, 30, tzinfo=UTC))
    assert run.prompt == "Report for 2026-12-04"
    assert run.variables["date"] == "2026-12-04" and run.variables["timezone"] == "Asia/Shanghai"
    retry = build_retry(run, attempt=2, now=datetime(2026, 12, 5, tzinfo=UTC), not_before=None)
    assert (retry.prompt, retry.variables) == (run.prompt, run.variables)


def test_backfill_keeps_each_occurrences_date(api, olga, acme, agent, fake_clock):
    schedule = make_schedule(acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", prompt="Sales of {{ yesterday }}")
    fake_clock.advance(days=3)
    response = api(olga).post(
        f"{API}/schedules/{schedule.pk}/backfill/", {"from": "2026-12-01T00:00:00Z", "to": "2026-12-04T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.json()
    prompts = sorted(ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).values_list("prompt", flat=True))
    assert prompts == ["Sales of 2026-11-30", "Sales of 2026-12-01", "Sales of 2026-12-02"]


def test_run_now_uses_the_time_of_the_request(api, olga, acme, agent, fake_clock):
    schedule = make_schedule(acme, agent, timezone="Asia/Shanghai", prompt="Sales of {{ date }}")
    fake_clock.set(datetime(2026, 12, 9, 17, 0, tzinfo=UTC))  # 01:00 on the 10th in Shanghai
    response = api(olga).post(f"{API}/schedules/{schedule.pk}/run-now/")
    assert response.status_code == 202, response.json()
    assert response.json()["prompt"] == "Sales of 2026-12-10"
    assert response.json()["variables"]["scheduled_for"] == "2026-12-10T01:00:00+08:00"

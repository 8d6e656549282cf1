"""The editor and the pages with run variables and workday calendars: the China preset, what
the calendar adds and removes among the next runs, the warning, the next run's resolved
prompt, the refusals beside their fields, and "Why didn't it run?" with the calendar's reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from schedules.models import Schedule
from tests.automation.pages import hx
from tests.automation.test_drawer import NEW, fields, form_data
from tests.automation.test_drawer_preview import preview
from tests.constants import UTC
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db

# "Workdays (China, official calendar) at 09:00".
CHINA_DAILY = {"schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": "Asia/Shanghai", "calendar": "cn-workdays"}


def test_the_china_preset_sets_every_day_and_the_official_calendar(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(cron_expression="", preset="0 9 * * *|cn-workdays"))
    html = response.content.decode()
    assert response.status_code == 200 and not Schedule.objects.exists()
    found = fields(html)
    assert (found["Cron expression"]["value"], found["Workday calendar"]["value"]) == ("0 9 * * *", "cn-workdays")
    assert "At 09:00, on workdays of cn-workdays (Asia/Shanghai)" in html


def test_the_preview_names_the_dates_the_calendar_added_and_removed(signed_in, eddie, fake_clock):
    fake_clock.set(datetime(2026, 9, 18, 2, 0, tzinfo=UTC))
    html = preview(signed_in(eddie), **CHINA_DAILY)
    # The next 5 runs: Sunday 20 September (a make-up workday) to Thursday the 24th.
    assert "Added 2026-09-20: make-up workday (National Day)" in html
    assert "Removed" not in html
    assert "Calendar cn-workdays has data for 2004-2026" in html
    assert "restricts the days of the week" not in html
    fake_clock.set(datetime(2026, 9, 22, 2, 0, tzinfo=UTC))
    html = preview(signed_in(eddie), **CHINA_DAILY)
    # 23, 24, 28, 29 and 30 September: Friday the 25th is Mid-autumn Festival.
    assert "Removed 2026-09-25: not a workday in cn-workdays: Mid-autumn Festival" in html
    assert "Added" not in html


def test_the_preview_warns_about_weekdays_and_a_calendar_and_speaks_chinese(signed_in, eddie, fake_clock):
    fake_clock.set(datetime(2026, 9, 18, 2, 0, tzinfo=UTC))
    client = signed_in(eddie)
    html = preview(client, schedule_type="cron", cron_expression="0 9 * * 1-5", timezone="Asia/Shanghai", calendar="cn-workdays")
    assert "restricts the days of the week" in html
    fake_clock.set(datetime(2026, 9, 22, 2, 0, tzinfo=UTC))
    html = client.post(
        "/automation/schedules/preview/",
        CHINA_DAILY,
        HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("schedule-preview"),
    ).content.decode()
    assert "去掉 2026-09-25：不是 cn-workdays 的工作日：中秋" in html
    assert "，仅 cn-workdays 工作日" in html


def test_the_preview_shows_the_next_runs_prompt_resolved(signed_in, eddie, fake_clock):
    html = preview(
        signed_in(eddie), schedule_type="cron", cron_expression="0 9 * * *", timezone="Asia/Shanghai",
        prompt="Summarise {{ yesterday }} by region",
    )
    # Now is 08:00 in Shanghai on 1 December: the next run is at 09:00 that day.
    assert "Summarise 2026-11-30 by region" in html
    assert "2026-12-01T09:00:00+08:00" in html


def test_a_bad_variable_and_a_once_calendar_are_refused_beside_their_fields(signed_in, eddie, acme, agent, fake_clock):
    client = signed_in(eddie)
    response = client.post(NEW, form_data(prompt="Sales of {{ today }}"), **hx("schedule-form"))
    assert "unknown variable &#x27;today&#x27;" in response.content.decode()
    response = client.post(
        NEW, form_data(schedule_type="once", run_at="2026-12-20T09:00", calendar="cn-workdays"), **hx("schedule-form")
    )
    assert "a one-time schedule cannot have a calendar" in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_saved_calendar_is_shown_when_editing(signed_in, eddie, acme, agent, fake_clock):
    schedule = make_schedule(acme, agent, calendar="us-workdays", timezone="America/New_York")
    html = signed_in(eddie).get(f"/automation/schedules/{schedule.pk}/edit/", **hx("drawer")).content.decode()
    assert fields(html)["Workday calendar"]["value"] == "us-workdays"


def test_why_page_gives_the_calendars_reason(signed_in, eddie, acme, agent, fake_clock):
    schedule = make_schedule(
        acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", calendar="cn-workdays",
        now=datetime(2026, 9, 1, tzinfo=UTC),
    )
    fake_clock.set(datetime(2026, 10, 9, tzinfo=UTC))
    html = signed_in(eddie).get(
        f"/automation/schedules/{schedule.pk}/why/?from=2026-09-30T00:00&to=2026-10-08T00:00"
    ).content.decode()
    assert "not a workday in cn-workdays: National Day" in html


def test_preview_the_next_run_shows_what_the_plane_would_get_and_creates_nothing(signed_in, victor, eddie, acme, agent, fake_clock):
    from runs.models import ScheduleRun

    schedule = make_schedule(
        acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", calendar="cn-workdays",
        prompt="Sales of {{ yesterday }}", now=datetime(2026, 9, 1, tzinfo=UTC),
    )
    fake_clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))
    edit = signed_in(eddie).get(f"/automation/schedules/{schedule.pk}/edit/", **hx("drawer")).content.decode()
    assert "Preview the next run" in edit
    html = signed_in(victor).post(f"/automation/schedules/{schedule.pk}/dry-run/", **hx("schedule-dry-run")).content.decode()
    assert "Sales of 2026-10-07" in html and "2026-10-08T09:00:00+08:00" in html
    assert "not a workday in cn-workdays: National Day" in html
    assert "&quot;scheduled_for_local&quot;: &quot;2026-10-08T09:00:00+08:00&quot;" in html
    assert not ScheduleRun.objects.exists()

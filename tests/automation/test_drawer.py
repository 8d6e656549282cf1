"""The schedule editor drawer: New and Edit, Save through the services, errors beside their
fields with the input kept, the live preview, permissions, and the page without JavaScript."""

from __future__ import annotations

import json
from datetime import datetime
from html.parser import HTMLParser

import pytest

from schedules.models import Schedule
from tests.automation.pages import hx, names
from tests.constants import UTC
from tests.factories import make_agent, make_schedule, make_viewer_preference

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"
NEW = "/automation/schedules/new/?org=acme"


class _Fields(HTMLParser):
    """Form controls by their label's text: {label: attributes of the control, + 'value'}."""

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.labels: dict[str, str] = {}
        self._label: list | None = None
        self._textarea: dict | None = None
        self._select: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self._label = [attrs.get("for"), ""]
        elif tag in ("input", "textarea", "select") and "id" in attrs:
            attrs["tag"] = tag
            self.by_id[attrs["id"]] = attrs
            if self._label is not None and not self._label[0]:
                self._label[0] = attrs["id"]
            if tag == "textarea":
                attrs["value"] = ""
                self._textarea = attrs
            if tag == "select":
                self._select = attrs
        elif tag == "option" and self._select is not None:
            self._select.setdefault("options", []).append(attrs.get("value"))
            if "selected" in attrs:
                self._select["value"] = attrs.get("value")

    def handle_endtag(self, tag):
        if tag == "label" and self._label:
            if self._label[0]:
                self.labels[" ".join(self._label[1].split())] = self._label[0]
            self._label = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._label is not None:
            self._label[1] += data
        if self._textarea is not None:
            self._textarea["value"] += data


def fields(html: str) -> dict[str, dict]:
    parser = _Fields()
    parser.feed(html)
    return {label: parser.by_id[for_id] for label, for_id in parser.labels.items() if for_id in parser.by_id}


def form_data(**changes) -> dict:
    """What the drawer posts for a weekday cron schedule of agent `echo`, with `changes`."""
    data = {
        "name": "Weekday sales brief",
        "agent": "echo",
        "prompt": "Summarise yesterday's sales by region",
        "output_type": "pdf",
        "schedule_type": "cron",
        "cron_expression": "0 9 * * 1-5",
        "every": "",
        "every_unit": "hours",
        "run_at": "",
        "timezone": "Asia/Shanghai",
        "max_retries": "3",
        "retry_backoff": "30 60 300 900 3600",
        "timeout_seconds": "1800",
        "overlap_policy": "skip",
        "max_concurrency": "1",
        "catchup_window_seconds": "3600",
        "start_at": "",
        "end_at": "",
        "alert_after_failures": "3",
    }
    data.update(changes)
    return data


def events(response) -> dict:
    return json.loads(response["HX-Trigger"])


# --- opening ----------------------------------------------------------------------------


def test_new_opens_a_dialog_with_every_labelled_field(signed_in, eddie, acme, agent, fake_clock):
    make_agent(acme, "retired", name="Retired", enabled=False)
    html = signed_in(eddie).get(NEW, **hx("drawer")).content.decode()

    assert html.lstrip().startswith("<dialog data-modal") and ">New schedule</h2>" in html
    found = fields(html)
    for label in ("Name", "Agent", "Prompt", "Output type", "Cron", "Interval", "Once", "Cron expression",
                  "Every", "Unit", "Run at", "Time zone", "Max retries", "Back-off (seconds)", "Timeout (seconds)",
                  "When the previous run is still running", "Max concurrency", "Catch-up window (seconds)",
                  "Active from", "Active until", "Alert after failures"):
        assert label in found, label
    assert "<legend>Schedule type</legend>" in html and "<summary>Advanced</summary>" in html
    assert found["Agent"]["options"] == ["echo"]  # the org's enabled agents only
    assert "checked" in found["Cron"]
    assert found["Run at"]["type"] == "datetime-local"
    assert found["Time zone"]["list"] == "schedule-zones" and '<option value="America/New_York">' in html
    assert "autofocus" in found["Name"]
    assert {"Save", "Cancel", "Every hour", "Every day at 09:00", "Weekdays at 09:00", "Every Monday at 09:00",
            "First day of the month"} <= set(names(html, "button"))


def test_a_new_schedule_starts_in_the_viewers_time_zone(signed_in, eddie, acme, agent, fake_clock):
    make_viewer_preference(eddie, "Asia/Shanghai")
    html = signed_in(eddie).get(NEW, **hx("drawer")).content.decode()
    assert fields(html)["Time zone"]["value"] == "Asia/Shanghai"
    assert "data-browser-default" not in html


def test_edit_shows_the_stored_values_in_the_schedules_zone(signed_in, eddie, acme, agent, now, fake_clock):
    schedule = make_schedule(
        acme, agent, name="Two-hourly", schedule_type="interval", interval_seconds=7200, timezone="Asia/Shanghai",
        end_at=datetime(2027, 1, 1, 1, 0, tzinfo=UTC), max_retries=5, retry_backoff_seconds=[10, 20], now=now,
    )
    html = signed_in(eddie).get(f"{TABLE}{schedule.pk}/edit/", **hx("drawer")).content.decode()

    assert ">Edit schedule</h2>" in html
    found = fields(html)
    assert found["Name"]["value"] == "Two-hourly"
    assert "checked" in found["Interval"]
    assert (found["Every"]["value"], found["Unit"]["value"]) == ("2", "hours")
    assert found["Active until"]["value"] == "2027-01-01T09:00"  # 01:00Z is 09:00 in Shanghai
    assert found["Back-off (seconds)"]["value"] == "10 20"
    assert found["Max retries"]["value"] == "5"


def test_without_javascript_new_and_edit_are_whole_pages_with_the_same_form(signed_in, eddie, acme, agent, now):
    schedule = make_schedule(acme, agent, now=now)
    client = signed_in(eddie)
    for url, heading in ((NEW, "New schedule"), (f"{TABLE}{schedule.pk}/edit/", "Edit schedule")):
        html = client.get(url).content.decode()
        assert html.startswith("<!doctype html>") and "<title>" + heading in html
        assert '<dialog data-modal id="schedule-drawer" class="drawer" aria-labelledby="drawer-title" open>' in html
        assert "Name" in fields(html) and "Save" in names(html, "button")
        assert 'href="/automation/schedules/"' in html  # Cancel goes back to the list


def test_every_drawer_opener_on_the_table_is_also_a_link(signed_in, eddie, acme, agent, now):
    schedule = make_schedule(acme, agent, now=now)
    html = signed_in(eddie).get(TABLE).content.decode()
    assert 'href="/automation/schedules/new/?org=acme"\n     hx-get="/automation/schedules/new/?org=acme"' in html
    assert f'href="{TABLE}{schedule.pk}/edit/" hx-get="{TABLE}{schedule.pk}/edit/"' in html


# --- saving -----------------------------------------------------------------------------


def test_save_creates_the_schedule_closes_the_drawer_and_goes_to_its_row(signed_in, eddie, acme, agent, fake_clock):
    client = signed_in(eddie)
    response = client.post(NEW, form_data(), **hx("schedule-form"))

    assert response.status_code == 204
    schedule = Schedule.objects.get(name="Weekday sales brief")
    assert events(response) == {"schedule:saved": True, "dialog:close": True}
    assert json.loads(response["HX-Location"]) == {"path": f"{TABLE}{schedule.pk}/", "target": "#main"}
    assert (schedule.agent, schedule.output_type, schedule.cron_expression) == (agent, "pdf", "0 9 * * 1-5")
    assert schedule.timezone == "Asia/Shanghai" and schedule.created_by == eddie
    # T0 is 2026-12-01 00:00Z (08:00 in Shanghai, a Tuesday): next run at 09:00 local.
    assert schedule.next_run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    page = client.get(f"{TABLE}{schedule.pk}/", **hx("main")).content.decode()
    assert f'<tr id="schedule-{schedule.pk}-row" aria-current="true" class="selected">' in page
    assert "Schedule “Weekday sales brief” was saved." in page


def test_save_without_javascript_redirects_to_the_schedule(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(name="Plain form"))
    schedule = Schedule.objects.get(name="Plain form")
    assert response.status_code == 302 and response["Location"] == f"{TABLE}{schedule.pk}/"


def test_edit_saves_through_the_same_service(signed_in, eddie, acme, agent, now, fake_clock):
    schedule = make_schedule(acme, agent, name="Old name", cron_expression="0 9 * * *", now=now)
    data = form_data(name="New name", schedule_type="interval", every="90", every_unit="minutes", timezone="UTC")
    response = signed_in(eddie).post(f"{TABLE}{schedule.pk}/edit/", data, **hx("schedule-form"))

    assert response.status_code == 204 and events(response)["schedule:saved"]
    schedule.refresh_from_db()
    assert (schedule.name, schedule.schedule_type, schedule.interval_seconds) == ("New name", "interval", 5400)
    assert schedule.cron_expression == "" and schedule.updated_by == eddie


def test_run_at_is_read_in_the_schedules_zone(signed_in, eddie, acme, agent, fake_clock):
    client = signed_in(eddie)
    client.post(NEW, form_data(name="Shanghai", schedule_type="once", run_at="2026-12-01T09:00"))
    assert Schedule.objects.get(name="Shanghai").run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    # 02:30 does not exist in New York on 2027-03-14: it means the first instant after the gap.
    client.post(NEW, form_data(name="Gap", schedule_type="once", run_at="2027-03-14T02:30", timezone="America/New_York"))
    assert Schedule.objects.get(name="Gap").run_at == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


def test_editing_the_name_keeps_a_stored_run_at_to_the_second(signed_in, eddie, acme, agent, now, fake_clock):
    run_at = datetime(2026, 12, 24, 10, 0, 37, 250000, tzinfo=UTC)
    schedule = make_schedule(acme, agent, schedule_type="once", run_at=run_at, timezone="Europe/Paris", now=now)
    client = signed_in(eddie)
    shown = fields(client.get(f"{TABLE}{schedule.pk}/edit/").content.decode())["Run at"]["value"]
    assert shown == "2026-12-24T11:00:37"

    data = form_data(name="Renamed", schedule_type="once", run_at=shown, timezone="Europe/Paris")
    assert client.post(f"{TABLE}{schedule.pk}/edit/", data, **hx("schedule-form")).status_code == 204
    schedule.refresh_from_db()
    assert (schedule.name, schedule.run_at) == ("Renamed", run_at)


# --- errors -----------------------------------------------------------------------------


def test_a_service_error_shows_beside_its_field_and_keeps_the_input(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(cron_expression="0 25 * * *"), **hx("schedule-form"))

    assert response.status_code == 200  # htmx swaps the form with its errors in
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="schedule-form"')
    cron = fields(html)["Cron expression"]
    assert cron["value"] == "0 25 * * *" and cron["aria-invalid"] == "true"
    assert cron["aria-describedby"] == "schedule-cron_expression-help schedule-cron_expression-error"
    assert '<p class="field-error" id="schedule-cron_expression-error">hour 25 is out of range 0-23' in html
    assert 'role="alert"' in html and '<a href="#schedule-cron_expression">Cron expression: hour 25' in html
    assert fields(html)["Name"]["value"] == "Weekday sales brief"
    assert fields(html)["Prompt"]["value"] == "\nSummarise yesterday's sales by region"
    assert not Schedule.objects.exists()


def test_form_and_timing_errors_show_together(signed_in, eddie, acme, agent, fake_clock):
    data = form_data(name="", schedule_type="interval", every="400", every_unit="days", max_retries="11")
    html = signed_in(eddie).post(NEW, data).content.decode()  # no JavaScript: a whole page

    start = html.index('id="schedule-form-errors"')
    summary = html[start : html.index("</ul>", start)]
    assert "Name: This field is required." in summary
    assert "Every: interval must be at most 31622400 seconds (366 days)" in summary  # the services' words
    assert "Max retries: Ensure this value is less than or equal to 10." in summary
    assert fields(html)["Every"]["value"] == "400"
    assert "<details class=\"advanced\" open>" in html  # an error inside it is not hidden


def test_an_error_from_the_save_itself_is_shown_on_its_field(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(prompt="   "), **hx("schedule-form"))
    html = response.content.decode()
    assert '<p class="field-error" id="schedule-prompt-error">prompt must not be empty</p>' in html
    assert fields(html)["Prompt"]["aria-invalid"] == "true"


def test_a_once_schedule_in_the_past_is_refused_in_words(signed_in, eddie, acme, agent, fake_clock):
    data = form_data(schedule_type="once", run_at="2026-11-30T09:00", timezone="UTC")
    html = signed_in(eddie).post(NEW, data, **hx("schedule-form")).content.decode()
    assert "run_at 2026-11-30T09:00:00Z is in the past" in html
    assert fields(html)["Run at"]["aria-invalid"] == "true"


def test_fields_of_another_schedule_type_are_not_judged(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(every="abc", run_at="not a date"), **hx("schedule-form"))
    assert response.status_code == 204
    assert Schedule.objects.get().interval_seconds is None


def test_a_preset_without_javascript_fills_the_expression_and_saves_nothing(signed_in, eddie, acme, agent, fake_clock):
    response = signed_in(eddie).post(NEW, form_data(name="", cron_expression="", preset="0 9 * * 1"))
    html = response.content.decode()
    assert response.status_code == 200 and not Schedule.objects.exists()
    assert fields(html)["Cron expression"]["value"] == "0 9 * * 1"
    assert "schedule-form-errors" not in html
    assert "At 09:00, only on Monday (Asia/Shanghai)" in html


# --- permissions ------------------------------------------------------------------------


@pytest.mark.parametrize("persona, status", [("admin", 204), ("editor", 204), ("operator", 403), ("viewer", 403),
                                             ("outsider", 404)])
def test_new_needs_write_permission_in_the_org(signed_in, personas, agent, fake_clock, persona, status):
    client = signed_in(personas[persona])
    response = client.post(NEW, form_data(), **hx("schedule-form"))
    assert response.status_code == status
    assert Schedule.objects.exists() is (status == 204)
    if status == 403:
        assert "You need the permission schedules:write (create and change schedules)" in response.content.decode()
        assert client.get(NEW).status_code == 403


@pytest.mark.parametrize("persona, status", [("admin", 204), ("editor", 204), ("operator", 403), ("viewer", 403),
                                             ("outsider", 404)])
def test_edit_needs_write_permission_on_the_schedule(signed_in, personas, acme, agent, now, fake_clock, persona, status):
    schedule = make_schedule(acme, agent, name="Keep", now=now)
    client = signed_in(personas[persona])
    response = client.post(f"{TABLE}{schedule.pk}/edit/", form_data(name="Changed"), **hx("schedule-form"))
    assert response.status_code == status
    schedule.refresh_from_db()
    assert (schedule.name == "Changed") is (status == 204)
    if status == 404:
        assert "does not exist, or you cannot see it" in client.get(f"{TABLE}{schedule.pk}/edit/").content.decode()


def test_the_drawer_speaks_chinese(signed_in, eddie, acme, agent, fake_clock):
    html = signed_in(eddie).get(NEW, HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("drawer")).content.decode()
    assert ">新建定时任务</h2>" in html
    found = fields(html)
    for label in ("名称", "智能体", "提示词", "输出类型", "Cron 表达式", "每隔", "运行时间", "时区"):
        assert label in found, label
    assert {"保存", "取消"} <= set(names(html, "button"))


def test_interval_edits_keep_an_interval_that_is_not_whole_minutes(signed_in, eddie, acme, agent, now, fake_clock):
    schedule = make_schedule(acme, agent, schedule_type="interval", interval_seconds=90, now=now)
    html = signed_in(eddie).get(f"{TABLE}{schedule.pk}/edit/").content.decode()
    found = fields(html)
    assert (found["Every"]["value"], found["Unit"]["value"]) == ("90", "seconds")


def test_an_org_without_an_enabled_agent_says_whom_to_ask(signed_in, eddie, acme, fake_clock):
    make_agent(acme, "retired", enabled=False)
    html = signed_in(eddie).get(NEW, **hx("drawer")).content.decode()
    assert "No agent is enabled in this organization: ask an admin to add or enable one." in html


def test_pause_after_failures_is_an_advanced_field_that_saves_and_clears(signed_in, eddie, acme, agent, now, fake_clock):
    assert "Pause after failures" in fields(signed_in(eddie).get(NEW, **hx("drawer")).content.decode())
    schedule = make_schedule(acme, agent, now=now)
    signed_in(eddie).post(f"{TABLE}{schedule.pk}/edit/", form_data(pause_after_failures="5"), **hx("schedule-form"))
    schedule.refresh_from_db()
    assert schedule.pause_after_failures == 5
    signed_in(eddie).post(f"{TABLE}{schedule.pk}/edit/", form_data(pause_after_failures=""), **hx("schedule-form"))
    schedule.refresh_from_db()
    assert schedule.pause_after_failures is None


def test_a_bad_cron_expression_is_explained_in_chinese_beside_its_field(signed_in, eddie, acme, agent, fake_clock):
    data = form_data(cron_expression="0 25 * * *")
    response = signed_in(eddie).post(NEW, data, HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("schedule-form"))

    html = response.content.decode()
    assert '<p class="field-error" id="schedule-cron_expression-error">小时 25 超出范围 0-23' in html
    assert fields(html)["Cron 表达式"]["aria-invalid"] == "true"
    assert "out of range" not in html
    assert not Schedule.objects.exists()


def test_a_missing_cron_expression_and_a_past_run_at_are_explained_in_chinese(signed_in, eddie, acme, agent, fake_clock):
    client = signed_in(eddie)
    html = client.post(NEW, form_data(run_at="2026-11-30T09:00", schedule_type="once", timezone="UTC"),
                       HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("schedule-form")).content.decode()
    assert "运行时间 2026-11-30T09:00:00Z 已经过去" in html
    html = client.post(NEW, form_data(timezone="GMT+8"), HTTP_ACCEPT_LANGUAGE="zh-hans",
                       **hx("schedule-form")).content.decode()
    assert "未知的时区 &#x27;GMT+8&#x27;；您是指 &#x27;Etc/GMT-8&#x27;" in html


def test_jitter_is_an_advanced_field_that_saves(signed_in, eddie, acme, agent, now, fake_clock):
    assert "Jitter (seconds)" in fields(signed_in(eddie).get(NEW, **hx("drawer")).content.decode())
    schedule = make_schedule(acme, agent, now=now)
    signed_in(eddie).post(f"{TABLE}{schedule.pk}/edit/", form_data(jitter_seconds="300"), **hx("schedule-form"))
    schedule.refresh_from_db()
    assert schedule.jitter_seconds == 300
    html = signed_in(eddie).post(f"{TABLE}{schedule.pk}/edit/", form_data(jitter_seconds="3601"), **hx("schedule-form"))
    assert "less than or equal to 3600" in html.content.decode()

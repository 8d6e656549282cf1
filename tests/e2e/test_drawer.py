"""The schedule editor drawer in Chromium: with the keyboard only, errors, in Chinese, against
axe-core. (A once schedule created here and fired by a real `run_scheduler` is part of the
whole lifecycle in test_pages.py.)"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from schedules.models import Schedule
from tests.factories import make_agent, make_org, make_schedule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(db):
    org = make_org("acme")
    make_agent(org, "echo", name="Echo")
    return org


@pytest.fixture
def eddie(acme):
    return make_user("eddie", acme, "editor")


def sign_in(page: Page, live_server, user: str = "eddie"):
    page.goto(f"{live_server.url}/automation/schedules/")
    # The username field has focus (waited for: a key typed before it did was lost under
    # load); type, Tab to the password, Enter submits.
    expect(page.get_by_role("textbox").first).to_be_focused()  # the username, in any language
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(f"pw-{user}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/")


def open_new(page: Page, live_server, title: str = "New schedule") -> Locator:
    """Sign in, open the drawer with the "New schedule" button, and return the dialog."""
    sign_in(page, live_server)
    page.get_by_role("button", name=title).first.press("Enter")
    drawer = page.get_by_role("dialog", name=title)
    expect(drawer).to_be_visible()
    return drawer


def tab_to(page: Page, target: Locator, *, limit: int = 60) -> None:
    """Press Tab until `target` has focus: it must be reachable by keyboard."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reached with {limit} Tab presses")


def serious(violations: list[dict]) -> list[str]:
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in violations if v["impact"] in ("serious", "critical")]


def test_a_person_creates_a_schedule_with_the_keyboard_only(page: Page, live_server, eddie):
    sign_in(page, live_server)
    new = page.get_by_role("button", name="New schedule").first
    tab_to(page, new)
    page.keyboard.press("Enter")

    drawer = page.get_by_role("dialog", name="New schedule")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Weekday sales brief")
    tab_to(page, drawer.get_by_label("Prompt"))
    page.keyboard.type("Summarise yesterday's sales by region")
    tab_to(page, drawer.get_by_role("button", name="Weekdays at 09:00"))
    page.keyboard.press("Enter")
    expect(drawer.get_by_label("Cron expression")).to_have_value("0 9 * * 1-5")
    tab_to(page, drawer.get_by_label("Time zone"))
    page.keyboard.press("Control+A")
    page.keyboard.type("Asia/Shanghai")
    expect(drawer.get_by_text("At 09:00, Monday through Friday (Asia/Shanghai)")).to_be_visible()
    expect(drawer.get_by_role("table", name="Next runs").get_by_role("row")).to_have_count(6)
    tab_to(page, drawer.get_by_role("button", name="Save"))
    page.keyboard.press("Enter")

    expect(drawer).to_have_count(0)
    schedule = Schedule.objects.get(name="Weekday sales brief")
    assert (schedule.cron_expression, schedule.timezone, schedule.agent.slug) == ("0 9 * * 1-5", "Asia/Shanghai", "echo")
    row = page.locator(f"#schedule-{schedule.pk}-row")
    expect(row).to_have_attribute("aria-current", "true")  # the new row is highlighted
    expect(page).to_have_url(re.compile(f"/automation/schedules/{schedule.pk}/$"))
    expect(page.get_by_role("region", name="Runs")).to_be_visible()


def test_escape_closes_the_drawer_and_focus_returns_to_its_opener(page: Page, live_server, eddie, acme):
    schedule = make_schedule(acme, name="Hourly echo", cron_expression="0 * * * *", now=datetime.now(timezone.utc))
    sign_in(page, live_server)
    edit = page.locator(f"#schedule-{schedule.pk}-row").get_by_role("button", name="Edit")
    tab_to(page, edit)
    page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog", name="Edit schedule")
    expect(drawer.get_by_label("Name")).to_have_value("Hourly echo")
    expect(drawer.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)
    expect(edit).to_be_focused()


def test_a_failed_save_keeps_the_input_and_says_why_beside_the_field(page: Page, live_server, eddie):
    drawer = open_new(page, live_server)
    drawer.get_by_label("Name").fill("Broken")
    drawer.get_by_label("Prompt").fill("Anything")
    drawer.get_by_label("Cron expression").fill("0 25 * * *")
    expect(drawer.get_by_text("hour 25 is out of range 0-23")).to_be_visible()  # the preview says it first
    drawer.get_by_role("button", name="Save").press("Enter")

    summary = drawer.get_by_role("alert")
    expect(summary).to_contain_text("Cron expression: hour 25 is out of range 0-23")
    expect(summary).to_be_focused()
    cron = drawer.get_by_label("Cron expression")
    expect(cron).to_have_value("0 25 * * *")
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(cron).to_have_accessible_description(re.compile("hour 25 is out of range 0-23"))
    expect(drawer.get_by_label("Name")).to_have_value("Broken")
    assert not Schedule.objects.exists()


def test_the_open_drawer_has_no_serious_accessibility_violation(page: Page, live_server, eddie):
    drawer = open_new(page, live_server)
    drawer.get_by_label("Cron expression").fill("30 2 * * *")
    drawer.get_by_label("Time zone").fill("America/New_York")
    drawer.get_by_role("button", name="Save").press("Enter")  # errors shown: name and prompt missing
    expect(drawer.get_by_role("alert")).to_be_visible()
    drawer.get_by_text("Advanced").press("Enter")
    assert serious(Axe().run(page).response["violations"]) == []


def test_the_drawer_in_chinese_creates_a_schedule(page: Page, live_server, eddie):
    page.set_extra_http_headers({"Accept-Language": "zh-Hans"})
    drawer = open_new(page, live_server, "新建定时任务")
    drawer.get_by_label("名称").fill("每日简报")
    drawer.get_by_label("提示词").fill("总结昨天的销售情况")
    drawer.get_by_role("radio", name="间隔").check()
    drawer.get_by_label("每隔").fill("2")
    drawer.get_by_label("单位").select_option(label="小时")
    drawer.get_by_label("时区").fill("Asia/Shanghai")
    expect(drawer.get_by_text("每 2 小时")).to_be_visible()
    assert serious(Axe().run(page).response["violations"]) == []
    drawer.get_by_role("button", name="保存").click()

    expect(drawer).to_have_count(0)
    schedule = Schedule.objects.get(name="每日简报")
    assert (schedule.schedule_type, schedule.interval_seconds) == ("interval", 7200)
    expect(page.locator(f"#schedule-{schedule.pk}-row")).to_have_attribute("aria-current", "true")

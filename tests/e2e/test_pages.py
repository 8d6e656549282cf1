"""A person at /automation/schedules/, in a real browser, against a live server and a real
`run_scheduler` process running the local `echo` agent: sign in, create a once schedule a few
seconds ahead in the editor drawer and watch it fire, run it now, retry a failure, switch it
off, delete it; the same in Simplified Chinese, where every control is found by its Chinese
name.

Nothing sleeps: Playwright's `expect` waits for what a person would wait for.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from schedules.models import Schedule
from tests.factories import make_agent, make_org, make_schedule, make_user
from tests.runs.test_scheduler_process import SchedulerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The scheduler fires, the local plane starts a Python process: generous for a loaded CI box.
RUN_TIMEOUT = 30_000
SHANGHAI = timezone(timedelta(hours=8))  # no daylight saving: a fixed offset reads the same

WORDS = {
    "en": {
        "locale": "en-US", "username": "Username", "password": "Password", "sign_in": "Sign in",
        "schedules": "Schedules", "runs": "Runs", "run_now": "Run now", "succeeded": "Succeeded",
        "newest_first": "newest first", "failed": "Failed", "retry": "Retry", "attempt_2": "Attempt 2", "enabled": "Enabled",
        "delete": "Delete", "disabled": "Disabled", "language": "Language", "viewer_zone": "Viewer time zone",
        "new_schedule": "New schedule", "name": "Name", "prompt": "Prompt", "once": "Once", "run_at": "Run at",
        "time_zone": "Time zone", "save": "Save",
    },
    "zh-hans": {
        "locale": "zh-CN", "username": "用户名", "password": "密码", "sign_in": "登录",
        "schedules": "定时任务", "runs": "运行记录", "run_now": "立即运行", "succeeded": "成功",
        "newest_first": "最新的在前", "failed": "失败", "retry": "重试", "attempt_2": "第 2 次", "enabled": "已启用",
        "delete": "删除", "disabled": "已停用", "language": "语言", "viewer_zone": "显示时区",
        "new_schedule": "新建定时任务", "name": "名称", "prompt": "提示词", "once": "一次", "run_at": "运行时间",
        "time_zone": "时区", "save": "保存",
    },
}


@pytest.fixture
def scheduler(tmp_path):
    proc = SchedulerProcess("pages", tmp_path)
    yield proc
    if proc.poll() is None:
        assert proc.stop() == 0, proc.output()


@pytest.fixture
def browser_page(browser, request):
    """A page whose browser speaks the test's language (its Accept-Language)."""
    words = WORDS[request.param]
    context = browser.new_context(locale=words["locale"])
    page = context.new_page()
    page.words = words
    yield page
    context.close()


def sign_in(page: Page, live_server, words):
    page.goto(f"{live_server.url}/")
    page.get_by_label(words["username"]).fill("pat")
    page.get_by_label(words["password"]).fill("pw-pat")
    page.get_by_role("button", name=words["sign_in"]).click()
    expect(page.get_by_role("link", name=words["schedules"], exact=True)).to_have_attribute("aria-current", "page")


def row(page: Page, words, name: str):
    return page.get_by_role("table", name=words["schedules"], exact=True).get_by_role("row").filter(has_text=name)


@pytest.mark.parametrize("browser_page", ["en", "zh-hans"], indirect=True)
def test_a_person_watches_runs_succeed_retries_a_failure_switches_off_and_deletes(
    browser_page: Page, live_server, scheduler
):
    page, words = browser_page, browser_page.words
    org = make_org("acme")
    agent = make_agent(org, "echo")
    make_user("pat", org, "admin")
    broken = make_schedule(org, agent, name="Broken report", prompt="Please FAIL", max_retries=0,
                           now=datetime.now(timezone.utc))

    sign_in(page, live_server, words)
    expect(page.get_by_role("combobox", name=words["language"])).to_be_visible()
    expect(page.get_by_role("combobox", name=words["viewer_zone"])).to_be_visible()

    # New schedule: once, a few seconds ahead (a time typed in the schedule's zone), Save.
    page.get_by_role("button", name=words["new_schedule"]).first.click()
    drawer = page.get_by_role("dialog", name=words["new_schedule"])
    drawer.get_by_label(words["name"]).fill("Launch summary")
    drawer.get_by_label(words["prompt"]).fill("Summarise the launch")
    drawer.get_by_role("radio", name=words["once"]).check()
    drawer.get_by_label(words["time_zone"]).fill("Asia/Shanghai")
    run_at = datetime.now(timezone.utc) + timedelta(seconds=8)
    drawer.get_by_label(words["run_at"]).fill(run_at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S"))
    drawer.get_by_role("button", name=words["save"]).click()
    expect(drawer).to_have_count(0)
    soon = Schedule.objects.get(name="Launch summary")
    assert soon.run_at == run_at.replace(microsecond=0)

    # Saving goes to the schedule, whose run appears without a reload when it fires.
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/{soon.pk}/")
    expect(row(page, words, "Launch summary")).to_have_attribute("aria-current", "true")
    # The runs table of the panel (the panel's 24-hour chart has a table of its own, whose
    # column headers are status words too).
    runs = page.get_by_role("region", name=words["runs"], exact=True).get_by_role(
        "table", name=re.compile(words["newest_first"])
    )
    expect(runs.get_by_text(words["succeeded"], exact=True)).to_have_count(1, timeout=RUN_TIMEOUT)

    # Run now: a second run, which also succeeds on screen.
    row(page, words, "Launch summary").get_by_role("button", name=words["run_now"]).click()
    expect(runs.get_by_text(words["succeeded"], exact=True)).to_have_count(2, timeout=RUN_TIMEOUT)

    page.reload()
    expect(runs.get_by_text(words["succeeded"], exact=True)).to_have_count(2)
    expect(row(page, words, "Launch summary")).to_have_attribute("aria-current", "true")

    # A failing agent: its run fails, and Retry makes attempt 2.
    row(page, words, "Broken report").get_by_role("link", name="Broken report").click()
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/{broken.pk}/?org=acme")
    row(page, words, "Broken report").get_by_role("button", name=words["run_now"]).click()
    expect(runs.get_by_text(words["failed"], exact=True)).to_have_count(1, timeout=RUN_TIMEOUT)
    runs.get_by_role("button", name=words["retry"]).click()
    expect(runs.get_by_text(words["attempt_2"], exact=True)).to_be_visible()
    expect(runs.get_by_text(words["failed"], exact=True)).to_have_count(2, timeout=RUN_TIMEOUT)

    # Switch it off.
    switch = row(page, words, "Broken report").get_by_role("switch", name=words["enabled"])
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(row(page, words, "Broken report").get_by_role("switch", name=words["enabled"])).to_have_attribute(
        "aria-checked", "false"
    )
    expect(row(page, words, "Broken report")).to_contain_text(words["disabled"])
    assert not Schedule.objects.get(pk=broken.pk).enabled

    # Delete it, after saying yes in the dialog; the page goes back to the list.
    row(page, words, "Broken report").get_by_role("button", name=words["delete"]).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=words["delete"], exact=True).click()
    expect(row(page, words, "Broken report")).to_have_count(0)
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme")
    assert not Schedule.objects.filter(pk=broken.pk).exists()
    assert scheduler.poll() is None, scheduler.output()

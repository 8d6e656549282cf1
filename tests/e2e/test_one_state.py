"""A new user's first schedule, in Chromium in Shanghai, against a live server and a real
`run_scheduler` running the local `echo` agent: the demo chat's "Make this a schedule", a preset, Save,
Run now. The draft starts in the browser's zone and says so; after Run now every part of the
page that shows the run (the runs panel and its chart, the table's row, the org's summary)
comes to the same state, with no reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from schedules.models import Schedule
from tests.e2e.test_pages import RUN_TIMEOUT, scheduler  # noqa: F401 (fixture: the scheduler process)
from tests.factories import make_agent, make_org, make_user

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SESSION = "sess-42"
# The demo chat's question (templates/demo/chat.html): the draft's prompt and, cut, its name.
NAME = "Summarise yesterday's sales by region as a PDF"


def test_after_run_now_the_row_the_panel_and_both_summaries_show_one_state(browser, live_server, scheduler, settings):
    settings.DEMO_CHAT = True
    settings.EXECUTION_PLANE_SESSION_URL = live_server.url + "/demo/chat/{session_id}/"
    org = make_org("acme")
    make_agent(org, "echo")
    make_user("pat", org, "admin")
    context = browser.new_context(locale="en-US", timezone_id="Asia/Shanghai")
    page = context.new_page()

    page.goto(f"{live_server.url}/automation/schedules/")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill("pw-pat")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Schedules", exact=True)).to_have_attribute("aria-current", "page")

    # From chat: the draft's zone is the browser's, named in the preview's heading.
    page.goto(f"{live_server.url}/demo/chat/{SESSION}/")
    page.get_by_role("button", name="Make this a schedule").click()
    drawer = page.get_by_role("dialog", name="New schedule")
    expect(drawer.get_by_label("Time zone")).to_have_value("Asia/Shanghai")
    expect(drawer.get_by_role("heading", name=re.compile(r"^Preview in Asia.Shanghai"))).to_be_visible()
    expect(drawer.get_by_label("Name")).to_have_value(NAME)
    # The heading follows the zone as it is typed (the preview's answer updates it).
    drawer.get_by_label("Time zone").fill("Europe/Riga")
    expect(drawer.get_by_role("heading", name=re.compile(r"^Preview in Europe.Riga"))).to_be_visible()
    drawer.get_by_label("Time zone").fill("Asia/Shanghai")
    expect(drawer.get_by_role("heading", name=re.compile(r"^Preview in Asia.Shanghai"))).to_be_visible()
    drawer.get_by_role("button", name="Weekdays at 09:00").click()
    drawer.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/automation/schedules/[0-9a-f-]{36}/$"))
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.timezone) == (NAME, "Asia/Shanghai")

    # From here on the page is never reloaded: a mark on the window would not survive one.
    page.evaluate("window.oneStateMark = true")
    row = page.get_by_role("table", name="Schedules", exact=True).get_by_role("row").filter(has_text=NAME)
    # The org's figure and the panel's have the same name ("Runs in the last 24 hours").
    summary = page.locator("#org-chart")
    runs = page.get_by_role("region", name="Runs", exact=True)
    runs_table = runs.get_by_role("table", name=re.compile("newest first"))
    panel_chart = runs.get_by_role("figure")
    expect(summary.get_by_text("No finished runs in the last 24 hours.")).to_be_visible()

    row.get_by_role("button", name="Run now").click()

    expect(runs_table.get_by_text("Succeeded", exact=True)).to_have_count(1, timeout=RUN_TIMEOUT)
    # The same state everywhere, within the moment it takes the parts to fetch themselves.
    expect(row.get_by_text("Succeeded", exact=True)).to_be_visible()
    for chart in (panel_chart, summary):
        expect(chart.get_by_role("definition").first).to_have_text("1")  # "Runs: 1"
        expect(chart.get_by_text("No finished runs in the last 24 hours.")).to_have_count(0)
    assert page.evaluate("window.oneStateMark") is True
    context.close()

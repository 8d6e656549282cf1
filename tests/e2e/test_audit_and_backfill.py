"""A person reads the audit log and makes up for an outage, in a real browser: every control
found by its role and name, each page free of serious accessibility violations (axe-core)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from audit.services import Actor
from runs.models import ScheduleRun, TriggerType
from schedules import services
from tests.e2e.test_pages_access import serious, sign_in
from tests.factories import make_agent, make_org, make_schedule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outage(db):
    """An hourly schedule created five hours ago whose scheduler never ran; renamed since."""
    org = make_org("acme")
    agent = make_agent(org, "echo")
    user = make_user("pat", org, "admin")
    now = datetime.now(timezone.utc)
    schedule = make_schedule(org, agent, name="Hourly report", cron_expression="0 * * * *", now=now - timedelta(hours=5))
    services.schedule_update(
        actor=Actor(user=user, request_id="req-rename"), schedule=schedule, data={"name": "Hourly sales"},
        now=now - timedelta(hours=1),
    )
    return schedule


def test_audit_log_filtered_from_the_sidebar_and_from_a_schedule(browser, live_server, outage):
    page = browser.new_page()
    sign_in(page, live_server)
    page.get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    events = page.get_by_role("table", name="Audit events, newest first")
    expect(events.get_by_role("row")).to_have_count(3)  # header, update, create
    expect(events.get_by_text("req-rename")).to_be_visible()
    assert serious(page) == []

    page.get_by_label("Action").select_option(label="Create")
    expect(events.get_by_role("row")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"action=create"))
    page.get_by_label("User").select_option("pat")
    expect(page.get_by_role("heading", name="No audit event matches these filters")).to_be_visible()

    page.goto(f"{live_server.url}/automation/schedules/{outage.pk}/")
    page.get_by_role("region", name="Runs").get_by_role("link", name="Audit log").click()
    expect(page.get_by_label("Schedule")).to_have_value(str(outage.pk))
    expect(page.get_by_role("table", name="Audit events, newest first").get_by_role("row")).to_have_count(3)


def test_why_didnt_it_run_then_backfill_these(browser, live_server, outage):
    page = browser.new_page()
    sign_in(page, live_server, f"/automation/schedules/{outage.pk}/")
    page.get_by_role("region", name="Runs").get_by_role("link", name="Why didn't it run?").click()
    expect(page.get_by_role("heading", name="Why didn't “Hourly sales” run?")).to_be_visible()
    occurrences = page.get_by_role("table", name="Occurrences and what happened to each")
    expect(occurrences.get_by_text("No record of this occurrence").first).to_be_visible()
    assert serious(page) == []

    missing = occurrences.get_by_text("No record of this occurrence").count()
    assert missing >= 4
    page.get_by_role("button", name="Backfill these").click()
    expect(page.get_by_role("status").filter(has_text=f"Queued {missing} runs.")).to_be_visible()
    expect(page.get_by_role("button", name="Backfill these")).to_have_count(0)
    expect(occurrences.get_by_text("Backfill").first).to_be_visible()
    assert ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).count() == missing
    assert serious(page) == []


def test_both_pages_at_360_px_in_dark(browser, live_server, outage):
    context = browser.new_context(color_scheme="dark", viewport={"width": 360, "height": 800})
    page = context.new_page()
    sign_in(page, live_server, "/automation/audit/")
    expect(page.get_by_role("table", name="Audit events, newest first")).to_be_visible()
    for path in ("/automation/audit/", f"/automation/schedules/{outage.pk}/why/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert serious(page) == [], path
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, path
    context.close()

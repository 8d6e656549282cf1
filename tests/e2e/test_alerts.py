"""Alerts in the browser: a test alert delivered to a loopback webhook, and the stalled banner."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_pages_access import serious
from tests.polling import wait_until
from tests.factories import make_agent, make_heartbeat, make_org, make_schedule, make_user
from tests.webhook_server import WebhookServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler(settings):
    """A real scheduler loop in a thread: its alerts step sends what a test alert queued.

    The alerts step's own timer is set long, so a prompt delivery proves the test alert's
    NOTIFY woke it (on PostgreSQL, where the browser tests run)."""
    from config.clock import SystemClock
    from runs.scheduler import Scheduler

    settings.SCHEDULER_ALERT_CHECK_SECONDS = 300
    stop = threading.Event()
    loop = Scheduler(replica_id="e2e-alerts", poll_seconds=0.2, workers=1, clock=SystemClock())
    thread = threading.Thread(target=loop.run_forever, args=(stop,), daemon=True)
    thread.start()
    wait_until(loop.listening.is_set, deadline=10, what="the scheduler to LISTEN")
    yield loop
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def receiver(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    server = WebhookServer()
    yield server
    server.close()


def sign_in(page: Page, live_server, username: str, next_path: str):
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.postgres  # the NOTIFY that wakes the scheduler
def test_an_admin_adds_a_webhook_and_a_test_alert_shows_it_delivered(page: Page, live_server, receiver, scheduler):
    org = make_org("acme")
    make_user("ada", org, "admin")
    sign_in(page, live_server, "ada", "/automation/schedules/")
    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()

    page.get_by_text("Add a channel").click()
    page.get_by_label("Kind").select_option("webhook")
    page.get_by_label("Name").fill("On-call hook")
    page.get_by_label("Address").fill(receiver.url)
    page.get_by_role("button", name="Add channel").click()
    expect(page.get_by_text("On-call hook", exact=True)).to_be_visible()
    assert serious(page) == []

    page.get_by_role("button", name="Send test alert").click()
    results = page.get_by_role("status").filter(has_text="Test alert results")
    expect(results).to_contain_text("On-call hook (Webhook): Delivered (HTTP 200)")
    assert json.loads(receiver.received[0].body)["cause"] == "test"
    assert serious(page) == []


def test_the_stalled_banner_appears_when_heartbeats_are_old(page: Page, live_server, settings):
    settings.SCHEDULER_STALL_SECONDS = 120
    org = make_org("acme")
    make_user("vic", org, "viewer")
    now = datetime.now(timezone.utc)
    # Every minute since an hour ago, and no scheduler has beaten for ten minutes.
    make_schedule(org, make_agent(org), name="Every minute", cron_expression="* * * * *", now=now - timedelta(hours=1))
    make_heartbeat("r1", at=now - timedelta(minutes=10))
    sign_in(page, live_server, "vic", "/automation/schedules/")
    banner = page.get_by_role("alert").filter(has_text="Schedules are late")
    expect(banner).to_contain_text("Schedules are late: the scheduler last ran 10 min ago")
    assert serious(page) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_alerts_page_is_accessible_and_fits_a_phone(browser, live_server, receiver, scheme):
    from audit.services import Actor
    from runs.alerts.channels import channel_create
    from runs.alerts.services import alert_raise
    from runs.models import AlertCause

    org = make_org("acme")
    make_user("ada", org, "admin")
    now = datetime.now(timezone.utc)
    schedule = make_schedule(org, make_agent(org), name="Weekday sales", now=now)
    alert_raise(org_id=org.pk, cause=AlertCause.CONSECUTIVE_FAILURES, schedule_id=schedule.pk,
               detail="3 runs of schedule “Weekday sales” failed in a row (the last: agent_failed).", now=now)
    channel_create(actor=Actor.system(), org=org, data={"kind": "webhook", "name": "On-call hook", "target": receiver.url}, now=now)
    context = browser.new_context(color_scheme=scheme, viewport={"width": 360, "height": 800})
    page = context.new_page()
    sign_in(page, live_server, "ada", "/automation/alerts/")
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    expect(page.get_by_role("link", name="Weekday sales")).to_be_visible()
    assert serious(page) == []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    context.close()

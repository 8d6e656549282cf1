"""A strict Content-Security-Policy (issue 19, item 9): every page, the drawer and the dialogs,
the alerts' polling, the chat button, the API docs and the admin, with no violation reported.

Chromium reports each refused script, style or connection as a console error and as a
`securitypolicyviolation` event; both are collected for the whole visit.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_pages_access import data, sign_in  # noqa: F401 (fixture: org acme, pat, two schedules with runs)
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def violations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return seen


def test_the_policy_is_strict(client, db):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", name
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_an_inline_script_is_refused_and_seen(page: Page, live_server, violations, db):
    """The check can fail: an inline script slipped into a page is refused and reported."""

    def with_inline_script(route):
        response = route.fetch()
        body = response.text().replace("</body>", "<script>document.title = 'ran';</script></body>")
        route.fulfill(response=response, body=body)

    page.route("**/accounts/login/", with_inline_script)
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.title() != "ran"
    assert any("script-src" in text for text in violations)


def test_every_page_and_the_drawer_run_under_the_policy(page: Page, live_server, data, violations, settings):
    settings.DEMO_CHAT = True
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    schedule = data["schedule"]
    base = live_server.url
    sign_in(page, live_server)
    expect(page.get_by_role("table", name="Schedules")).to_be_visible()

    # The drawer: open, preset, preview, close.
    page.get_by_role("button", name="New schedule").first.click()
    drawer = page.get_by_role("dialog", name="New schedule")
    expect(drawer).to_be_visible()
    drawer.get_by_role("button", name="Weekdays at 09:00").click()
    expect(drawer.get_by_role("table", name="Next runs").get_by_role("row")).to_have_count(6)
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    # One schedule: its runs panel (it refreshes itself), Edit, the delete dialog.
    page.get_by_role("link", name="Weekday sales").click()
    expect(page.get_by_role("region", name="Runs")).to_be_visible()
    expect(page.locator(f"#schedule-{schedule.pk}-row")).to_have_attribute("aria-current", "true")
    page.locator(f"#schedule-{schedule.pk}-row").get_by_role("button", name="Edit").click()
    expect(page.get_by_role("dialog", name="Edit schedule")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator(f"#schedule-{schedule.pk}-row").get_by_role("button", name=re.compile("^Delete")).click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()

    page.goto(f"{base}/automation/schedules/{schedule.pk}/why/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(f"{base}/automation/audit/")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    # Alerts: a channel, a test alert whose results poll (no scheduler runs here: it keeps polling).
    page.get_by_role("link", name="Alerts").click()
    page.get_by_text("Add a channel").click()
    page.get_by_label("Kind").select_option("email")
    page.get_by_label("Name").fill("Ops")
    page.get_by_label("Address").fill("ops@example.com")
    page.get_by_role("button", name="Add channel").click()
    page.get_by_role("button", name="Send test alert").click()
    expect(page.get_by_role("status").filter(has_text="Test alert results")).to_contain_text("Queued")
    with page.expect_response(re.compile(r"/automation/alerts/test/\d+/")):
        pass  # one poll went through

    # The chat button on the demo chat page, into the drawer over the table.
    page.goto(f"{base}/demo/chat/sess-1/")
    page.get_by_role("button", name="Make this a schedule").click()
    expect(page.get_by_role("dialog", name="New schedule")).to_be_visible()

    page.goto(f"{base}/no/such/page/")
    page.goto(f"{base}/api/v1/docs/")
    expect(page.get_by_text("Agent schedules API").first).to_be_visible()

    # The admin, as support staff.
    page.goto(f"{base}/automation/schedules/")
    page.get_by_role("button", name="Sign out").click()
    make_user("sam", superuser=True, password="sam-password")
    page.goto(f"{base}/admin/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("sam-password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/admin/schedules/schedule/")
    page.get_by_role("link", name="Weekday sales").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    assert violations == []

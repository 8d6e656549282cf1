"""The pages for everyone: no serious accessibility violation (axe-core), usable at 360 px,
in light and dark; and a request that fails says so in words, with a way to try again."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from runs.models import ScheduleRun
from schedules.models import Membership
from tests.automation.pages import run_of
from tests.factories import make_agent, make_org, make_schedule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


# The agent's answer on the successful run: longer than the panel's preview.
ANSWER = "# Sales\n\n" + "Revenue rose in every region this week. " * 12 + "THE END"


@pytest.fixture
def data(db):
    org = make_org("acme")
    agent = make_agent(org, "echo")
    user = make_user("pat", org, "admin")
    now = datetime.now(timezone.utc)
    schedule = make_schedule(
        org, agent, name="Weekday sales", cron_expression="0 9 * * 1-5", timezone="Asia/Shanghai", now=now
    )
    make_schedule(org, agent, name="Hourly echo", schedule_type="interval", interval_seconds=3600, now=now)
    first = run_of(schedule, "failed", at=now - timedelta(hours=3), error_code="plane_unreachable",
                   error_message="connection refused", session_id="s-1")
    for i, status in enumerate(["success", "timeout", "skipped", "canceled", "queued"]):
        run_of(schedule, status, at=now - timedelta(hours=2, minutes=-i), outputs=[
            {"type": "pdf", "name": "report.pdf", "url": "https://files.example.com/r.pdf"}] if status == "success" else [],
            answer=ANSWER if status == "success" else "")
    run_of(schedule, "running", at=now - timedelta(minutes=1), trigger_type="retry", attempt=2,
           job_run_id=f"{first.job_run_id[:-2]}-2", retry_of=first)
    return {"user": user, "schedule": schedule}


def sign_in(page: Page, live_server, next_path="/automation/schedules/"):
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill("pw-pat")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Schedules", exact=True)).to_be_visible()


def serious(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 360])
def test_table_and_runs_panel_have_no_serious_accessibility_violation(browser, live_server, data, scheme, width):
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 800})
    page = context.new_page()
    sign_in(page, live_server)
    expect(page.get_by_role("table", name="Schedules")).to_be_visible()
    assert serious(page) == []

    page.get_by_role("link", name="Weekday sales").click()
    # The runs table (the panel's chart has a table whose column headers are status words too).
    runs = page.get_by_role("region", name="Runs").get_by_role("table", name=re.compile("newest first"))
    expect(runs.get_by_text("Timed out", exact=True)).to_be_visible()
    for word in ("Queued", "Running", "Succeeded", "Failed", "Skipped", "Canceled"):
        expect(runs.get_by_text(word, exact=True)).to_be_visible()
    # The answer: a preview, and all of it behind its disclosure.
    expect(runs.get_by_text("THE END")).to_be_hidden()
    runs.get_by_text(f"The whole answer ({len(ANSWER)} characters)").click()
    expect(runs.get_by_text("THE END")).to_be_visible()
    assert serious(page) == []
    # Usable at 360 px: nothing wider than the screen but the runs table, which scrolls.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    context.close()


def test_the_login_page_has_no_serious_accessibility_violation(page: Page, live_server, db):
    page.goto(f"{live_server.url}/accounts/login/")
    assert serious(page) == []


def test_a_request_that_cannot_reach_the_server_says_so_and_can_be_tried_again(page: Page, live_server, data):
    sign_in(page, live_server)
    row = page.get_by_role("row").filter(has_text="Hourly echo")
    page.route("**/run-now/", lambda route: route.abort())
    row.get_by_role("button", name="Run now").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The server could not be reached")
    page.unroute("**/run-now/")
    alert.get_by_role("button", name="Try again").click()
    expect(alert).to_be_empty()
    expect(row).to_contain_text("Queued")
    assert ScheduleRun.objects.filter(schedule__name="Hourly echo").count() == 1


def test_a_server_error_is_a_readable_message_never_a_blank(page: Page, live_server, data):
    sign_in(page, live_server)
    page.route("**/automation/schedules/?*", lambda route: route.fulfill(status=500, body="Traceback: boom"))
    page.get_by_role("searchbox", name="Search").fill("sales")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Something went wrong on the server. Try again in a moment. (500)")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.unroute("**/automation/schedules/?*")
    alert.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("row").filter(has_text="Hourly echo")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="Weekday sales")).to_have_count(1)
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme&q=sales")


def test_an_action_the_person_may_no_longer_do_names_the_permission(page: Page, live_server, data):
    sign_in(page, live_server)
    Membership.objects.filter(user=data["user"]).update(role="viewer")  # taken away meanwhile
    page.get_by_role("row").filter(has_text="Hourly echo").get_by_role("button", name="Run now").click()
    expect(page.get_by_role("alert")).to_contain_text("You need the permission schedules:run (run schedules)")
    assert not ScheduleRun.objects.filter(schedule__name="Hourly echo").exists()


def test_filters_live_in_the_url_and_back_shows_the_previous_page(page: Page, live_server, data):
    sign_in(page, live_server)
    page.get_by_label("Status").select_option("ok")
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme&status=ok")
    page.get_by_role("searchbox", name="Search").fill("hourly")
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme&q=hourly&status=ok")
    expect(page.get_by_role("row").filter(has_text="Weekday sales")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("hourly")
    expect(page.get_by_role("row").filter(has_text="Weekday sales")).to_have_count(0)
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme&status=ok")
    expect(page.get_by_role("row").filter(has_text="Weekday sales")).to_have_count(1)


def test_the_delete_dialog_takes_focus_closes_on_escape_and_gives_focus_back(page: Page, live_server, data):
    sign_in(page, live_server)
    delete = page.get_by_role("row").filter(has_text="Hourly echo").get_by_role("button", name="Delete")
    delete.click()
    dialog = page.get_by_role("dialog", name="Delete “Hourly echo”?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()


def test_the_viewer_time_zone_and_language_are_remembered(page: Page, live_server, data):
    sign_in(page, live_server)
    row = page.get_by_role("row").filter(has_text="Weekday sales")
    expect(row).to_contain_text("UTC+08:00")
    page.get_by_role("combobox", name="Viewer time zone").select_option("UTC")
    expect(page.get_by_role("combobox", name="Viewer time zone")).to_have_value("UTC")
    expect(row.get_by_role("cell").filter(has_text="in ").first).to_contain_text("01:00 UTC")
    page.get_by_role("combobox", name="Language").select_option("zh-hans")
    expect(page.get_by_role("link", name="定时任务", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/automation/schedules/")
    expect(page.get_by_role("combobox", name="显示时区")).to_have_value("UTC")


def test_a_loading_indicator_shows_while_a_request_is_on_its_way(page: Page, live_server, data):
    sign_in(page, live_server)
    # What a person sees while the request is out, noted the moment it is sent.
    page.evaluate(
        """document.addEventListener("htmx:beforeSend", () => {
            const loading = document.getElementById("loading");
            window.loadingWhileSent = getComputedStyle(loading).visibility + " " + loading.textContent.trim();
        })"""
    )
    loading = page.get_by_role("status").filter(has_text="Loading…")
    expect(loading).to_be_hidden()
    page.get_by_label("Status").select_option("ok")
    expect(page).to_have_url(f"{live_server.url}/automation/schedules/?org=acme&status=ok")
    assert page.evaluate("window.loadingWhileSent") == "visible Loading…"
    expect(loading).to_be_hidden()


def test_at_1280_px_the_table_fits_the_page_and_dates_and_placeholders_read_whole(browser, live_server, data):
    schedule, now = data["schedule"], datetime.now(timezone.utc)
    make_schedule(schedule.org, schedule.agent, name="Weekday morning briefing", cron_expression="0 9 * * 1-5",
                  timezone="Asia/Shanghai", now=now)
    run_of(schedule, "success", at=now - timedelta(minutes=30), session_id="local-22643-8e0b41c4df3b",
           outputs=[{"type": "markdown", "name": "result.md", "url": "https://files.example.com/result.md"}])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, live_server, next_path=f"/automation/schedules/{schedule.pk}/")
    expect(page.get_by_role("region", name="Runs").get_by_text("Timed out", exact=True)).to_be_visible()
    main = page.locator("#main").bounding_box()
    seen = {
        # Every row's last control inside the page's content, not past its right edge.
        "rows past the right edge": [
            row.inner_text().split("\n")[0]
            for row in page.get_by_role("table", name="Schedules").get_by_role("row").all()[1:]
            if (lambda box: box["x"] + box["width"] > main["x"] + main["width"])(
                row.get_by_role("button", name="Delete").bounding_box())
        ],
        # The search box shows its whole hint ("Name, description or agent").
        "search hint cut by (px)": max(0, round(page.get_by_role("searchbox", name="Search").evaluate("""input => {
            const style = getComputedStyle(input), ctx = document.createElement('canvas').getContext('2d');
            ctx.font = style.font;
            const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return ctx.measureText(input.placeholder).width - room;
        }"""))),
        # A date such as 2026-11-30 stays on one line in both tables.
        "dates broken inside": page.evaluate("""() => [...document.querySelectorAll('td time')].filter(time => {
            const range = document.createRange();
            range.setStart(time.firstChild, 0); range.setEnd(time.firstChild, 10);
            return range.getClientRects().length > 1;
        }).map(time => time.textContent)"""),
    }
    assert seen == {"rows past the right edge": [], "search hint cut by (px)": 0, "dates broken inside": []}
    context.close()

"""Support staff work in the Django admin: log in, find a schedule, create one."""

import re

import pytest
from playwright.sync_api import Page, expect

from schedules.models import Schedule
from tests.factories import make_agent, make_org, make_schedule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(db):
    # A superuser, as the support staff who run the admin are.
    return make_user("sam", superuser=True, email="sam@example.com", password="sam-password")


def log_in(page: Page, live_server, username="sam", password="sam-password"):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()


def test_staff_finds_a_schedule_and_sees_its_next_run(page: Page, live_server, staff):
    org = make_org("acme")
    make_schedule(org, make_agent(org), name="Weekday sales report", cron_expression="0 9 * * 1-5")
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/schedules/schedule/")
    page.get_by_role("searchbox").fill("sales")
    page.get_by_role("searchbox").press("Enter")

    row = page.locator("#result_list tbody tr", has_text="Weekday sales report")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0 9 * * 1-5")
    # Created at 2026-12-01 00:00Z (a Tuesday): next run that day at 09:00 UTC.
    expect(row).to_contain_text("Dec. 1, 2026, 9 a.m.")


def test_staff_creates_a_schedule_and_the_admin_computes_its_next_run(page: Page, live_server, staff):
    org = make_org("acme")
    agent = make_agent(org)
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/schedules/schedule/add/")
    page.locator("#id_org").select_option(str(org.pk))
    # The agent field is an autocomplete widget; the underlying <select> takes the value.
    page.evaluate(
        """([id, label]) => {
            const select = document.querySelector('#id_agent');
            select.add(new Option(label, id, true, true));
        }""",
        [str(agent.pk), str(agent)],
    )
    page.locator("#id_name").fill("Nightly digest")
    page.locator("#id_prompt").fill("Summarise the day")
    page.locator("#id_cron_expression").fill("30 1 * * *")
    page.locator("#id_timezone").fill("America/New_York")
    page.locator("input[name=_save]").click()

    expect(page.locator(".messagelist")).to_contain_text(re.compile("was added successfully"))
    schedule = Schedule.objects.get(name="Nightly digest")
    assert schedule.next_run_at is not None
    assert schedule.timezone == "America/New_York"


def test_a_bad_cron_expression_is_shown_on_the_form_and_nothing_is_saved(page: Page, live_server, staff):
    org = make_org("acme")
    agent = make_agent(org)
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/schedules/schedule/add/")
    page.locator("#id_org").select_option(str(org.pk))
    page.evaluate(
        """([id, label]) => document.querySelector('#id_agent').add(new Option(label, id, true, true))""",
        [str(agent.pk), str(agent)],
    )
    page.locator("#id_name").fill("Broken")
    page.locator("#id_prompt").fill("Anything")
    page.locator("#id_cron_expression").fill("0 25 * * *")
    page.locator("input[name=_save]").click()

    expect(page.locator(".errorlist")).to_contain_text("hour 25 is out of range 0-23")
    assert not Schedule.objects.filter(name="Broken").exists()

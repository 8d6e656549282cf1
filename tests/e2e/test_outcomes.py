"""A person says what success means and sets a budget in the editor, in Chromium, against axe-core."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from schedules.models import Schedule
from tests.e2e.test_drawer import acme, eddie, open_new, serious  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_person_sets_success_checks_and_a_budget(page: Page, live_server, eddie):  # noqa: F811
    drawer = open_new(page, live_server)
    drawer.get_by_label("Name").fill("Weekly PDF")
    drawer.get_by_label("Prompt").fill("Summarise the week as a PDF")
    drawer.get_by_label("Output type", exact=True).select_option(label="PDF")
    drawer.get_by_label("Cron expression").fill("0 9 * * 1")
    drawer.get_by_text("Success means").click()
    expect(drawer.get_by_label("An output of the output type comes back")).to_be_checked()
    drawer.get_by_label("Each such output is at least (bytes)").fill("1024")
    drawer.get_by_text("Budget", exact=True).click()
    expect(drawer.get_by_text("runs already in flight can spend past the budget")).to_be_visible()
    drawer.get_by_label("Monthly cost budget (USD)").fill("20")
    assert serious(Axe().run(page).response["violations"]) == []
    drawer.get_by_role("button", name="Save").click()

    expect(drawer).to_have_count(0)
    schedule = Schedule.objects.get(name="Weekly PDF")
    assert schedule.success_checks == [{"kind": "output_present"}, {"kind": "min_size", "bytes": 1024}]
    assert str(schedule.monthly_cost_budget_usd) == "20.00"

"""The 24-hour runs chart in a browser: it loads after the table, in the runs panel too, and
has no serious accessibility violation (axe-core), light and dark, wide and narrow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_pages_access import data, serious, sign_in  # noqa: F401 (data is a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 360])
def test_org_and_schedule_charts_are_accessible(browser, live_server, data, scheme, width):  # noqa: F811
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 800})
    page = context.new_page()
    sign_in(page, live_server)
    chart = page.get_by_role("figure", name="Runs in the last 24 hours")
    expect(chart).to_be_visible()
    # The numbers are there for a screen reader: a table of the 24 hours (25 rows with the partial ends).
    expect(chart.get_by_role("table")).to_have_count(1)
    expect(chart.get_by_role("term").filter(has_text="Success rate")).to_have_count(1)
    assert serious(page) == []

    page.get_by_role("link", name="Weekday sales").click()
    panel_chart = page.get_by_role("region", name="Runs").get_by_role("figure", name="Runs in the last 24 hours")
    expect(panel_chart).to_be_visible()
    expect(panel_chart.locator("svg rect.bar-failed")).not_to_have_count(0)
    assert serious(page) == []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    context.close()

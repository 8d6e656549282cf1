"""The 24-hour runs chart: for the org above the table, per schedule in its runs panel."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.automation.pages import hx
from tests.factories import make_viewer_preference
from tests.runs.metrics_data import NOW, populate

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(acme, agent, globex, fake_clock):
    fake_clock.set(NOW)
    return populate(acme, agent, globex)


def get(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200, response.content
    return unescape(response.content.decode())


def table_rows(html: str) -> dict[str, list[str]]:
    """The screen-reader table: hour -> [succeeded, failed, p95]."""
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', html)
    return {hour: [ok, failed, p95] for hour, ok, failed, p95 in rows}


def test_the_table_page_loads_the_org_chart_lazily(signed_in, alice, data):
    html = get(signed_in(alice), "/automation/schedules/?org=acme")
    assert 'hx-get="/automation/charts/runs/?org=acme" hx-trigger="load" hx-target="this"' in html
    assert "<svg" not in html  # the table page does not wait for the chart's queries


def test_org_chart_in_the_viewers_zone(signed_in, alice, data):
    make_viewer_preference(alice, "Asia/Shanghai")
    html = get(signed_in(alice), "/automation/charts/runs/?org=acme", **hx("org-chart"))
    assert "<html" not in html and "<svg" in html
    assert "Hours in Asia/Shanghai (UTC+08:00)" in html
    rows = table_rows(html)
    assert len(rows) == 25
    # 09:30 UTC succeeded in 10 s: the 17:00 hour in Shanghai; the 10:00 UTC timeout is 18:00.
    assert rows["2026-12-01 17:00"] == ["1", "0", "10 s"]
    assert rows["2026-12-01 18:00"] == ["0", "1", "1 min 40 s"]
    assert rows["2026-12-01 16:00"] == ["0", "1", "30 s"]
    assert list(rows)[0] == "2026-11-30 18:00"
    assert "50%" in html  # success rate: 2 of 4 with an outcome


def test_org_chart_counts_only_the_viewers_org(signed_in, mallory, data):
    html = get(signed_in(mallory), "/automation/charts/runs/?org=globex", **hx("org-chart"))
    assert sum(int(failed) for _, failed, _ in table_rows(html).values()) == 1


def test_another_orgs_chart_is_not_found(signed_in, mallory, data):
    nightly, _, _ = data
    client = signed_in(mallory)
    assert client.get("/automation/charts/runs/?org=acme", **hx("org-chart")).status_code == 404
    assert client.get(f"/automation/schedules/{nightly.pk}/chart/", **hx("x")).status_code == 404


def test_schedule_chart_in_the_runs_panel_uses_the_schedules_zone(signed_in, victor, data):
    _, hourly, _ = data
    client = signed_in(victor)
    panel = get(client, f"/automation/schedules/{hourly.pk}/runs/", **hx("runs-panel"))
    assert f'hx-get="/automation/schedules/{hourly.pk}/chart/" hx-trigger="load" hx-target="this"' in panel
    html = get(client, f"/automation/schedules/{hourly.pk}/chart/", **hx(f"schedule-{hourly.pk}-chart"))
    assert "Hours in UTC (UTC)" in html  # the schedule's own zone: UTC
    rows = table_rows(html)
    assert rows["2026-12-01 10:00"] == ["0", "1", "1 min 40 s"]
    assert sum(int(ok) for ok, _, _ in rows.values()) == 0


def test_without_javascript_the_chart_is_a_page(signed_in, alice, data):
    html = get(signed_in(alice), "/automation/charts/runs/?org=acme")
    assert "<html" in html and "Runs in the last 24 hours" in html


def test_no_runs_says_so(signed_in, alice, acme, fake_clock):
    fake_clock.set(NOW)
    html = get(signed_in(alice), "/automation/charts/runs/?org=acme", **hx("org-chart"))
    assert "No finished runs in the last 24 hours." in html and "<svg" not in html


def test_chinese(signed_in, alice, data):
    client = signed_in(alice)
    html = get(client, "/automation/charts/runs/?org=acme", HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("org-chart"))
    assert "最近 24 小时的运行" in html

"""`GET /api/v1/metrics/summary/`: the runs summary, org-scoped, in the error shape on bad input."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error
from tests.runs.metrics_data import NOW, populate

URL = f"{API}/metrics/summary/"


@pytest.fixture
def data(acme, agent, globex, fake_clock):
    fake_clock.set(NOW)
    return populate(acme, agent, globex)


def test_summary_of_the_last_day_for_a_viewer(api, victor, data):
    body = api(victor).get(URL).json()
    assert body["window"] == "24h" and body["total"] == 5
    assert body["triggers"]["manual"] == 1 and body["statuses"]["timeout"] == 1
    assert body["success_rate"] == 0.5
    assert body["duration_p95_seconds"] == pytest.approx(89.5)
    assert len(body["hours"]) == 25 and body["hours"][-1]["start"] == "2026-12-01T10:00:00Z"
    assert body["failing_schedules"][0]["name"] == "Hourly check"


def test_the_window_follows_the_clock(api, victor, data, fake_clock):
    fake_clock.advance(hours=2)  # 12:30: the 09:30 success is now outside the last hour
    body = api(victor).get(URL, {"window": "1h"}).json()
    assert body["total"] == 0 and body["until"] == "2026-12-01T12:30:00Z"


def test_an_unknown_window_is_a_400_naming_the_allowed_values(api, victor, data):
    body = assert_error(api(victor).get(URL, {"window": "30d"}), 400, field="window")
    assert "1h, 24h, 7d" in body["errors"]["window"][0]


def test_another_orgs_schedule_is_a_404(api, alice, data):
    _, _, other = data
    assert_error(api(alice).get(URL, {"schedule": str(other.pk)}), 404)
    assert_error(api(alice).get(URL, {"schedule": "not-a-uuid"}), 404)


def test_one_schedule_and_the_outsider_sees_only_its_own_org(api, alice, mallory, data):
    _, hourly, _ = data
    assert api(alice).get(URL, {"schedule": str(hourly.pk)}).json()["total"] == 2
    assert api(mallory).get(URL).json()["total"] == 1


def test_anonymous_is_refused(api, data):
    assert_error(api(None).get(URL), 401)

""""Why didn't it run?" page: occurrences beside their reason, and "Backfill these"."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import unescape

import pytest

from runs.firing import fire_due
from runs.models import ScheduleRun, TriggerType
from tests.automation.pages import hx, names
from tests.constants import UTC
from tests.factories import make_schedule, make_viewer_preference

pytestmark = pytest.mark.django_db


def at(hour, minute=0, day=1):
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def outage(acme, agent, fake_clock):
    """An hourly schedule whose scheduler was down until 03:30: 03:00 ran, 00-02 were missed."""
    schedule = make_schedule(acme, agent, name="Hourly", cron_expression="0 * * * *", now=at(0) - timedelta(minutes=1))
    fire_due(now=at(3, 30), batch_size=10, replica_id="r1")
    fake_clock.advance(hours=4)  # 04:00
    return schedule


def why(client, schedule, **params):
    response = client.get(f"/automation/schedules/{schedule.pk}/why/", params)
    assert response.status_code == 200, response.content
    return unescape(response.content.decode())


def test_lists_each_occurrence_with_what_happened(signed_in, victor, outage):
    html = why(signed_in(victor), outage, **{"from": "2026-12-01T00:00", "to": "2026-12-01T04:00"})
    assert html.count("Missed while the scheduler was not running") == 3
    assert "3 have no run." in html
    assert "one of 3 counted on the catch-up run of" in html
    # A viewer may look but not backfill.
    assert "Backfill these" not in names(html, "button")


def test_reached_from_the_runs_panel(signed_in, victor, outage):
    panel = signed_in(victor).get(f"/automation/schedules/{outage.pk}/runs/", **hx("runs-panel")).content.decode()
    assert "Why didn't it run?" in unescape(" ".join(names(panel, "link")))


def test_range_in_the_viewer_zone(signed_in, victor, outage):
    # 08:00-10:00 in Shanghai is 00:00-02:00 UTC: two occurrences.
    make_viewer_preference(victor, "Asia/Shanghai")
    html = why(signed_in(victor), outage, **{"from": "2026-12-01T08:00", "to": "2026-12-01T10:00"})
    assert "2 occurrences in the range." in html
    assert 'value="2026-12-01T08:00"' in html


def test_backfill_these_runs_the_missing_ones_once(signed_in, olga, outage):
    client = signed_in(olga)
    html = why(client, outage, **{"from": "2026-12-01T00:00", "to": "2026-12-01T04:00"})
    assert "Backfill these" in names(html, "button")
    form = {"from": "2026-12-01T00:00:00+00:00", "to": "2026-12-01T04:00:00+00:00"}
    response = client.post(f"/automation/schedules/{outage.pk}/backfill/", form, follow=True)
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "Queued 3 runs." in html
    assert "Backfill these" not in names(html, "button")
    assert ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).count() == 3
    client.post(f"/automation/schedules/{outage.pk}/backfill/", form)
    assert ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).count() == 3


def test_backfill_needs_run_permission(signed_in, victor, outage):
    form = {"from": "2026-12-01T00:00:00+00:00", "to": "2026-12-01T04:00:00+00:00"}
    response = signed_in(victor).post(f"/automation/schedules/{outage.pk}/backfill/", form)
    assert response.status_code == 403
    assert not ScheduleRun.objects.filter(trigger_type=TriggerType.BACKFILL).exists()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "soon"}, "Enter a date and time, e.g. 2026-12-01T09:00."),
        ({"from": "9999-12-31T23:59"}, "Enter a year between 1970 and 2999."),
        ({"to": "0001-01-01T00:00"}, "Enter a year between 1970 and 2999."),
        ({"from": "2026-12-01T03:00", "to": "2026-12-01T01:00"}, "must be after its start"),
        ({"from": "2026-10-01T00:00", "to": "2026-12-01T01:00"}, "at most 31 days"),
    ],
)
def test_a_bad_range_is_a_readable_400(signed_in, victor, outage, params, message):
    response = signed_in(victor).get(f"/automation/schedules/{outage.pk}/why/", params)
    assert response.status_code == 400
    assert message in unescape(response.content.decode())


def test_another_org_cannot_see_it(signed_in, mallory, outage):
    assert signed_in(mallory).get(f"/automation/schedules/{outage.pk}/why/").status_code == 404

"""The editor's live preview: the description and the next 5 runs in two zones, the notes on
daylight-saving days, why nothing can be shown yet, in the page's language; and the API's
preview, which shares its code, answering as before."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.automation.pages import hx
from tests.constants import UTC
from tests.factories import make_viewer_preference

pytestmark = pytest.mark.django_db

PREVIEW = "/automation/schedules/preview/"


def preview(client, **data) -> str:
    response = client.post(PREVIEW, data, **hx("schedule-preview"))
    assert response.status_code == 200
    return response.content.decode()


def test_preview_describes_and_lists_the_next_5_runs_in_both_zones(signed_in, eddie, fake_clock):
    make_viewer_preference(eddie, "Asia/Shanghai")
    html = preview(signed_in(eddie), schedule_type="cron", cron_expression="0 9 * * 1-5", timezone="Europe/London")

    assert "At 09:00, Monday through Friday (Europe/London)" in html
    assert "In Europe/London" in html and "In Asia/Shanghai" in html
    assert html.count("<tr><td>") == 5
    assert "2026-12-01 09:00 <span class=\"zone\">UTC</span>" in html
    assert "2026-12-01 17:00 <span class=\"zone\">UTC+08:00</span>" in html


def test_preview_says_what_daylight_saving_does(signed_in, eddie, fake_clock):
    fake_clock.set(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    client = signed_in(eddie)
    html = preview(client, schedule_type="cron", cron_expression="30 2 * * *", timezone="America/New_York")
    assert "02:30 does not exist on 2026-03-08: runs at 03:00" in html
    assert "In UTC" in html  # the viewer chose no zone: UTC beside the schedule's

    html = preview(client, schedule_type="once", run_at="2026-03-08T02:30", timezone="America/New_York")
    assert "02:30 does not exist on 2026-03-08: runs at 03:00" in html
    assert "2026-03-08 03:00 <span class=\"zone\">UTC-04:00</span>" in html

    fake_clock.set(datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    html = preview(client, schedule_type="cron", cron_expression="30 1 * * *", timezone="America/New_York")
    assert "01:30 occurs twice on 2026-11-01: runs once, at 01:30 UTC-04:00" in html


def test_preview_explains_what_is_missing_or_wrong(signed_in, eddie, fake_clock):
    client = signed_in(eddie)
    assert "a cron schedule needs a cron expression" in preview(client, schedule_type="cron", timezone="UTC")
    assert "unknown time zone &#x27;Asia/Shangai&#x27;; did you mean &#x27;Asia/Shanghai&#x27;?" in preview(
        client, schedule_type="cron", cron_expression="0 9 * * *", timezone="Asia/Shangai"
    )
    assert "Enter a whole number." in preview(client, schedule_type="interval", every="x", timezone="UTC")


def test_preview_is_in_the_page_language(signed_in, eddie, fake_clock):
    client = signed_in(eddie)
    response = client.post(
        PREVIEW, {"schedule_type": "interval", "every": "15", "every_unit": "minutes", "timezone": "UTC"},
        HTTP_ACCEPT_LANGUAGE="zh-hans", **hx("schedule-preview"),
    )
    html = response.content.decode()
    assert "每 15 分钟" in html and "接下来的运行" in html


def test_preview_without_sign_in_is_refused(client):
    response = client.post(PREVIEW, {"schedule_type": "cron"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_preview_in_the_api_still_answers_as_before(signed_in, eddie, fake_clock):
    response = signed_in(eddie).post(
        "/api/v1/schedules/preview/",
        {"schedule_type": "cron", "cron_expression": "30 2 * * *", "timezone": "America/New_York", "count": 1,
         "after": "2026-03-08T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "description": "At 02:30 (America/New_York)",
        "timezone": "America/New_York",
        "next_runs": ["2026-03-08T07:00:00Z"],
        "next_runs_local": ["2026-03-08T03:00:00-04:00"],
        "calendar": None,
    }


def test_preview_says_when_jittered_runs_start(signed_in, eddie, fake_clock):
    html = preview(signed_in(eddie), schedule_type="cron", cron_expression="0 9 * * *", timezone="UTC", jitter_seconds="300")

    assert "2026-12-01 09:00 <span class=\"zone\">UTC</span>" in html  # the times stay the occurrences
    assert "each run starts up to 300 s after the time shown" in html
    assert "up to" not in preview(signed_in(eddie), schedule_type="cron", cron_expression="0 9 * * *", timezone="UTC")

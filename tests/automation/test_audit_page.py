"""The audit page: filters in the URL, org scope, readable changes, paging, times in the viewer's zone."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from audit.services import Actor
from schedules import services
from tests.automation.pages import hx, names
from tests.constants import T0
from tests.factories import make_schedule, make_viewer_preference

pytestmark = pytest.mark.django_db

URL = "/automation/audit/"


@pytest.fixture
def history(acme, agent, eddie, alice):
    """create by system (T0), rename by eddie (T0+1h), disable by alice (T0+2h); another schedule at T0+3h."""
    schedule = make_schedule(acme, agent, name="Acme nightly")
    services.schedule_update(
        actor=Actor(user=eddie, request_id="req-rename"), schedule=schedule, data={"name": "Renamed"},
        now=T0 + timedelta(hours=1),
    )
    services.schedule_disable(actor=Actor(user=alice), schedule=schedule, now=T0 + timedelta(hours=2))
    other = make_schedule(acme, agent, name="Other", now=T0 + timedelta(hours=3))
    return schedule, other


def page(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return unescape(response.content.decode())


def rows(html):
    return html.count('id="audit-event-')


def test_shows_who_did_what_with_the_change_and_the_request_id(signed_in, victor, history):
    html = page(signed_in(victor))
    assert rows(html) == 4
    assert "eddie" in html and "req-rename" in html
    assert "Changed “Renamed”: Name" in html
    assert "Name: <del>Acme nightly</del> → <ins>Renamed</ins>" in html
    assert "Disabled “Renamed”" in html
    # Newest first.
    assert html.index("Other") < html.index("req-rename")


def lines(html) -> list[str]:
    """What each entry says, newest first."""
    import re

    return [" ".join(re.sub(r"<[^>]+>", "", text).split()) for text in re.findall(r'<p class="audit-line">(.*?)</p>', html, re.S)]


def test_each_entry_is_one_line_saying_what_happened(signed_in, victor, acme, agent):
    make_schedule(acme, agent, name="Weekday morning briefing", cron_expression="0 9 * * 1-5", timezone="Asia/Shanghai")
    html = page(signed_in(victor))
    assert lines(html) == ["Created “Weekday morning briefing”, cron 0 9 * * 1-5, Asia/Shanghai · Open the schedule"]
    # A create lists no fields: the whole record is behind the disclosure, raw names and all.
    assert '<ul class="changes">' not in html
    assert "<details class=\"audit-record\"><summary>Full record</summary>" in html
    assert '"retry_backoff_seconds"' in html.split("<summary>Full record</summary>", 1)[1]


def test_an_update_shows_only_the_changed_fields_under_the_editors_labels(signed_in, victor, acme, agent, eddie):
    schedule = make_schedule(acme, agent, name="Brief", retry_backoff_seconds=[30, 60], overlap_policy="skip")
    services.schedule_update(
        actor=Actor(user=eddie), schedule=schedule, now=T0 + timedelta(hours=1),
        data={"retry_backoff_seconds": [60, 120, 300], "catchup_window_seconds": 600, "overlap_policy": "queue"},
    )
    html = page(signed_in(victor), action="update")
    assert lines(html)[0].startswith("Changed “Brief”: ")
    changes = html.split('<ul class="changes">', 1)[1].split("</ul>", 1)[0]
    assert changes.count("<li>") == 3
    assert "Back-off (seconds): <del>30 60</del> → <ins>60 120 300</ins>" in changes
    assert "Catch-up window (seconds): <del>3600</del> → <ins>600</ins>" in changes
    assert "When the previous run is still running: <del>Skip the new run</del> → <ins>Queue the new run" in changes
    assert "retry_backoff_seconds" not in changes and "catchup_window_seconds" not in changes


def test_entries_read_in_simplified_chinese(signed_in, victor, acme, agent, eddie):
    schedule = make_schedule(acme, agent, name="Brief")
    services.schedule_update(actor=Actor(user=eddie), schedule=schedule, data={"max_retries": 5}, now=T0 + timedelta(hours=1))
    html = unescape(signed_in(victor).get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode())
    assert lines(html)[0].startswith("修改了“Brief”：")
    assert "最大重试次数: <del>3</del> → <ins>5</ins>" in html
    assert "max_retries: " not in html


@pytest.mark.parametrize(
    "params, count",
    [
        ({"actor": "eddie"}, 1),
        ({"actor": "system"}, 2),
        ({"action": "disable"}, 1),
        ({"since": "2026-12-01T01:00", "until": "2026-12-01T03:00"}, 2),
    ],
)
def test_filters_from_the_url(signed_in, victor, history, params, count):
    assert rows(page(signed_in(victor), **params)) == count


def test_filter_by_schedule_and_the_runs_panel_links_to_it(signed_in, victor, history):
    schedule, _other = history
    client = signed_in(victor)
    assert rows(page(client, schedule=str(schedule.pk))) == 3
    panel = client.get(f"/automation/schedules/{schedule.pk}/runs/", **hx("runs-panel")).content.decode()
    assert "Audit log" in names(panel, "link")
    assert f"/automation/audit/?org=acme&amp;schedule={schedule.pk}" in panel


def test_range_is_read_in_the_viewer_zone(signed_in, victor, history):
    # 09:00 in Shanghai is 01:00 UTC: from then on, the rename, the disable and "Other".
    make_viewer_preference(victor, "Asia/Shanghai")
    html = page(signed_in(victor), since="2026-12-01T09:00")
    assert rows(html) == 3
    assert "2026-12-01 09:00:00 <span class=\"zone\">UTC+08:00</span>" in html


def test_another_org_sees_none_of_it_and_cannot_ask_for_it(signed_in, mallory, history, globex):
    client = signed_in(mallory)
    assert rows(page(client)) == 0
    assert client.get(URL, {"org": "acme"}).status_code == 404


def test_pages_through_events_with_a_cursor(signed_in, alice, acme, agent, monkeypatch):
    monkeypatch.setattr("automation.views.audit.PAGE_SIZE", 2)
    for i in range(5):
        make_schedule(acme, agent, now=T0 + timedelta(minutes=i), name=f"s{i}")
    client = signed_in(alice)
    seen, url = [], URL
    for _ in range(3):
        response = client.get(url)
        html = unescape(response.content.decode())
        found = [(html.index(f"Created “s{i}”"), f"s{i}") for i in range(5) if f"Created “s{i}”" in html]
        seen += [name for _, name in sorted(found)]
        link = response.context["next_page_url"]
        if not link:
            break
        url = link
    assert seen == ["s4", "s3", "s2", "s1", "s0"]


def test_sidebar_links_to_the_audit_page(signed_in, victor, acme):
    html = page(signed_in(victor))
    assert "Audit" in names(html, "link")
    assert 'href="/automation/audit/" aria-current="page"' in html


@pytest.mark.parametrize(
    "params",
    [
        {"schedule": "not-a-uuid"}, {"action": "explode"}, {"since": "soon"}, {"until": "99999-01-01T00:00"},
        {"since": "0001-01-01T00:00"}, {"cursor": "garbage"}, {"cursor": "WyIyMDI2LTEyLTAxVDAwOjAwOjAwKzAwOjAwIiwgIjEyIl0"},
    ],
)
def test_crafted_filters_are_ignored_with_a_message_never_a_500(signed_in, victor, history, params):
    html = page(signed_in(victor), **params)
    assert rows(html) == 4 or "cursor" in params


def test_an_actor_who_is_no_member_can_still_be_asked_for(signed_in, victor, history):
    # A former member's events stay in the trail; a link may name them.
    html = page(signed_in(victor), actor="former")
    assert rows(html) == 0
    assert "No audit event matches these filters" in html


def test_a_bad_time_says_what_to_enter(signed_in, victor, history):
    assert "Enter a date and time, e.g. 2026-12-01T09:00." in page(signed_in(victor), since="soon")

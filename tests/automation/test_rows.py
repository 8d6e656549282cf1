"""The table's rows (automation/rows.py, the one builder): every state a row can show, read as
a person would (by role and name), for each persona, in both languages, with filters in the
URL and a highlighted row."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from schedules.models import Schedule
from tests.automation.pages import controls, hx, run_of
from tests.factories import make_schedule, make_viewer_preference

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"
RUN_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
# What each persona may do to a row: (switch, Run now, Edit, Delete).
ALLOWED = {
    "admin": (True, True, True, True), "editor": (True, True, True, False),
    "operator": (False, True, False, False), "viewer": (False, False, False, False),
}
WORDS = {
    "en": {"switch": "Enabled", "run_now": "Run now", "edit": "Edit", "delete": "Delete", "never": "Never run",
           "failing": "Failing", "failed": "Failed", "from_chat": "From chat", "zone": "Time zone"},
    "zh-hans": {"switch": "已启用", "run_now": "立即运行", "edit": "编辑", "delete": "删除", "never": "从未运行",
                "failing": "失败中", "failed": "失败", "from_chat": "来自聊天", "zone": "时区"},
}


@pytest.fixture
def every_kind_of_row(acme, agent, now, settings):
    """Rows in each state the partial branches on: failing with a last run, never run,
    disabled and paused by itself, finished, from chat, interval, once, and text to escape."""
    settings.EXECUTION_PLANE_SESSION_URL = "https://chat.example.com/chat/{session_id}?m={message_id}"
    failing = make_schedule(acme, agent, name="Weekday <sales> & \"co\"", cron_expression="0 9 * * 1-5",
                            timezone="Asia/Shanghai", now=now)
    run_of(failing, "failed", at=now - timedelta(hours=2))
    Schedule.objects.filter(pk=failing.pk).update(consecutive_failures=5)
    run_of(make_schedule(acme, agent, name="Hourly", schedule_type="interval", interval_seconds=3600, now=now),
           "success", at=now - timedelta(days=3))
    off = make_schedule(acme, agent, name="Off", enabled=False, now=now)
    Schedule.objects.filter(pk=off.pk).update(paused_reason="Paused after 5 failures in a row <see runs>")
    make_schedule(acme, agent, name="Once", schedule_type="once", run_at=now + timedelta(days=2), now=now)
    chat = make_schedule(acme, agent, name="From chat", now=now)
    Schedule.objects.filter(pk=chat.pk).update(source_session_id="sess/1", source_message_id="m 1")
    finished = make_schedule(acme, agent, name="Done", schedule_type="once", run_at=now + timedelta(hours=1), now=now)
    Schedule.objects.filter(pk=finished.pk).update(next_run_at=None)
    return failing


def _rows(html: str) -> dict[str, str]:
    """Each row's HTML by the schedule's name (the row's header link)."""
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr id=\"schedule-[^\"]+-row\".*?</tr>", tbody, re.S):
        header = re.search(r'<th scope="row"[^>]*>\s*<a [^>]*>([^<]*)</a>', row)
        rows[unescape(header.group(1))] = row
    return rows


@pytest.mark.parametrize("persona", ["admin", "editor", "operator", "viewer"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_row_offers_what_the_person_may_do_in_their_language(signed_in, personas, every_kind_of_row, persona, language):
    words = WORDS[language]
    html = signed_in(personas[persona]).get(TABLE, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    rows = _rows(html)
    assert len(rows) == 6
    switch, run_now, edit, delete = ALLOWED[persona]
    for name, row in rows.items():
        found = controls(row)
        assert ("switch", words["switch"]) in [(r, n) for r, n, _ in found] if switch else all(r != "switch" for r, _, _ in found)
        buttons = [n for r, n, _ in found if r == "button"]
        links = [n for r, n, _ in found if r == "link"]
        assert (words["run_now"] in buttons) is run_now
        assert (words["edit"] in buttons) is edit and (words["delete"] in buttons) is delete  # links in the role of buttons
        assert name in links, "the name opens the schedule"
        assert f'data-label="{words["zone"]}"' in row, "the narrow layout's labels are translated"
    failing = rows['Weekday <sales> & "co"']
    assert words["failing"] in failing and words["failed"] in failing
    assert words["never"] in rows["Once"]
    assert "Paused after 5 failures in a row &lt;see runs&gt;" in rows["Off"]
    assert 'aria-checked="false"' in rows["Off"] if switch else True
    assert ("link", words["from_chat"], {"href": "https://chat.example.com/chat/sess%2F1?m=m%201",
                                          "target": "_blank", "rel": "noopener noreferrer"}) in controls(rows["From chat"])
    assert "<code>0 9 * * 1-5</code>" in failing and "Asia/Shanghai" in failing
    assert "—" in rows["Done"], "no next run"


def test_names_and_reasons_are_escaped(signed_in, alice, every_kind_of_row):
    html = signed_in(alice).get(TABLE).content.decode()
    assert 'Weekday &lt;sales&gt; &amp; &quot;co&quot;' in html and "<sales>" not in html


def test_rows_keep_the_filters_show_the_viewer_zone_and_highlight_the_open_schedule(signed_in, alice, every_kind_of_row):
    make_viewer_preference(alice, "Europe/Riga")
    client = signed_in(alice)
    html = client.get(TABLE, {"q": "e", "agent": "echo"}).content.decode()
    row = _rows(html)['Weekday <sales> & "co"']
    assert "UTC+02:00" in row and "UTC+08:00" not in row, "times in the viewer's zone"
    detail = next(attrs["href"] for role, name, attrs in controls(row) if name == 'Weekday <sales> & "co"')
    assert detail == f"/automation/schedules/{every_kind_of_row.pk}/?org=acme&q=e&agent=echo"
    assert 'name="next" value="/automation/schedules/?org=acme&amp;q=e&amp;agent=echo"' in row
    opened = client.get(f"{TABLE}{every_kind_of_row.pk}/", {"status": "failing"}).content.decode()
    assert 'aria-current="true" class="selected"' in _rows(opened)['Weekday <sales> & "co"']


def test_each_render_draws_fresh_run_now_keys_and_the_fragment_has_the_pages_rows(signed_in, alice, every_kind_of_row):
    client = signed_in(alice)
    page = client.get(TABLE).content.decode()
    fragment = client.get(TABLE, **hx("schedules-table")).content.decode()
    keys = RUN_KEY.findall(page)
    assert len(set(keys)) == len(keys) == 6 and not set(keys) & set(RUN_KEY.findall(fragment))
    assert _rows(page).keys() == _rows(fragment).keys()

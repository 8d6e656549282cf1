"""The table's rows come from automation/rows.py (fast) and must be byte for byte what the
`row` partial of templates/automation/schedules.html renders: every state a row can show,
for each persona, in both languages, with filters in the URL and a highlighted row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template.loader import get_template
from django.utils import translation

from schedules.models import Schedule
from tests.automation.pages import hx, run_of
from tests.factories import make_schedule, make_viewer_preference

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"
LABELS = {
    "status": "Status", "name": "Name", "agent": "Agent", "when": "When", "zone": "Time zone",
    "next": "Next run", "last": "Last run", "actions": "Actions", "enabled": "Enabled", "run_now": "Run now",
    "edit": "Edit", "delete": "Delete", "never": "Never run",
}
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
RUN_KEY = re.compile(r'name="idempotency_key" value="[^"]+"')


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


def _tbody(html: str) -> str:
    return TOKEN.sub('name="csrfmiddlewaretoken" value="T"', html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]).strip()


def _reference(response, language: str) -> str:
    """The rows as the partial renders them, from the view's own context (its rows, run keys, now)."""
    context = response.context
    template = get_template("automation/schedules.html#row")
    with translation.override(language):
        shared = {f"label_{key}": translation.gettext(text) for key, text in LABELS.items()}
        shared.update({name: context.get(name) for name in ("query", "here", "here_param", "selected", "now")})
        shared["csrf_token"] = "T"
        return "".join(template.render({**shared, "schedule": row}) for row in context["page"].rows).strip()


@pytest.mark.parametrize("persona", ["admin", "editor", "operator", "viewer"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_rows_are_what_the_row_partial_renders(signed_in, personas, every_kind_of_row, persona, language):
    client = signed_in(personas[persona])
    response = client.get(TABLE, {"q": "", "status": ""}, HTTP_ACCEPT_LANGUAGE=language)
    rows = _tbody(response.content.decode())
    assert rows.count("<tr ") == 6
    assert rows == _reference(response, language)


def test_rows_match_with_filters_a_viewer_zone_and_a_highlighted_row(signed_in, alice, every_kind_of_row):
    make_viewer_preference(alice, "Europe/Riga")
    client = signed_in(alice)
    for url, params in [(TABLE, {"q": "e", "agent": "echo"}), (f"{TABLE}{every_kind_of_row.pk}/", {"status": "failing"})]:
        response = client.get(url, params)
        rows = _tbody(response.content.decode())
        assert "<tr " in rows and "UTC+02:00" in rows
        assert rows == _reference(response, "en")
    # The HTMX fragment has the page's rows (each render draws fresh run-now keys).
    fragment = _tbody(client.get(TABLE, {"q": "e", "agent": "echo"}, **hx("schedules-table")).content.decode())
    page = _tbody(client.get(TABLE, {"q": "e", "agent": "echo"}).content.decode())
    assert RUN_KEY.sub("K", fragment) == RUN_KEY.sub("K", page)

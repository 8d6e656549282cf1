"""The editor opened from chat (/automation/schedules/new/?draft=<id>): pre-filled from the
draft, "From chat" linked to the session, a preset and Save make the schedule once."""

from __future__ import annotations

import pytest

from schedules.models import Schedule
from tests.automation.pages import hx, names
from tests.automation.test_drawer import fields, form_data
from tests.factories import make_draft, make_user

pytestmark = pytest.mark.django_db

PROMPT = "Summarise yesterday's sales by region as a PDF, please"
SESSION_URL = "https://chat.example.com/chat/{session_id}?m={message_id}"


@pytest.fixture
def draft(eddie, acme, agent):
    return make_draft(eddie, acme, agent="echo", prompt=PROMPT, output_type="pdf", session_id="sess-42", message_id="msg-7")


def url(draft) -> str:
    return f"/automation/schedules/new/?draft={draft.pk}"


def test_the_editor_opens_filled_from_the_draft_with_its_chat_linked(signed_in, eddie, draft, settings, fake_clock):
    settings.EXECUTION_PLANE_SESSION_URL = SESSION_URL
    response = signed_in(eddie).get(url(draft))
    assert response.status_code == 200
    html = response.content.decode()
    found = fields(html)
    assert found["Name"]["value"] == "Summarise yesterday's sales by region as"
    assert found["Agent"]["value"] == "echo" and found["Output type"]["value"] == "pdf"
    assert found["Prompt"]["value"].strip() == PROMPT
    assert "From chat:" in html and 'href="https://chat.example.com/chat/sess-42?m=msg-7"' in html
    assert "Weekdays at 09:00" in names(html, "button")
    assert f'action="/automation/schedules/new/?org=acme&amp;draft={draft.pk}"' in html
    # The table behind, the drawer over it (app.js opens it as a modal; it is open without JS too).
    assert "<h1>Schedules</h1>" in html
    assert '<div id="drawer"><dialog data-modal id="schedule-drawer"' in " ".join(html.split()).replace("> <", "><")
    assert "data-open-modal" in html


def test_the_drawer_fragment_is_filled_too(signed_in, eddie, draft, fake_clock):
    html = signed_in(eddie).get(url(draft), **hx("drawer")).content.decode()
    assert html.lstrip().startswith("<dialog data-modal") and fields(html)["Agent"]["value"] == "echo"


def _save(client, draft, **changes):
    """What the person sends after one preset click: the pre-filled fields and the preset's cron."""
    with_preset = client.post(url(draft), {**form_data(name="", prompt="", cron_expression=""),
                                           "name": draft.name, "prompt": draft.prompt, "preset": "0 9 * * 1-5"})
    assert with_preset.status_code == 200
    assert fields(with_preset.content.decode())["Cron expression"]["value"] == "0 9 * * 1-5"
    return client.post(url(draft), form_data(name=draft.name, prompt=draft.prompt, **changes))


def test_a_preset_and_save_make_the_schedule_from_chat_and_land_on_it(signed_in, eddie, draft, fake_clock):
    client = signed_in(eddie)
    response = _save(client, draft)
    schedule = Schedule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/automation/schedules/{schedule.pk}/"
    assert (schedule.source_session_id, schedule.source_message_id) == ("sess-42", "msg-7")
    assert (schedule.cron_expression, schedule.output_type, schedule.prompt) == ("0 9 * * 1-5", "pdf", PROMPT)
    page = client.get(response["Location"]).content.decode()
    assert f'id="schedule-{schedule.pk}-row" aria-current="true"' in page and "From chat" in page


def test_saving_the_same_draft_twice_returns_the_first_schedule(signed_in, eddie, draft, fake_clock):
    client = signed_in(eddie)
    first = _save(client, draft)
    again = client.post(url(draft), form_data(name="Another name", prompt=draft.prompt), **hx("schedule-form"))
    schedule = Schedule.objects.get()
    assert again.status_code == 204 and f"/automation/schedules/{schedule.pk}/" in again["HX-Location"]
    assert first["Location"] == f"/automation/schedules/{schedule.pk}/" and schedule.name == draft.name
    # Opening the used draft again (the back button) shows the schedule instead of a new editor.
    reopened = client.get(url(draft))
    assert reopened.status_code == 302 and reopened["Location"] == f"/automation/schedules/{schedule.pk}/"


def test_someone_elses_draft_is_not_found(signed_in, alice, mallory, draft, fake_clock):
    assert signed_in(alice).get(url(draft)).status_code == 404
    assert signed_in(mallory).get(url(draft)).status_code == 404
    assert signed_in(alice).post(url(draft), form_data()).status_code == 404
    assert not Schedule.objects.exists()


def test_an_expired_draft_says_so(signed_in, eddie, draft, fake_clock, settings):
    fake_clock.advance(settings.SCHEDULE_DRAFT_TTL)
    response = signed_in(eddie).get(url(draft))
    assert response.status_code == 404 and "expired" in response.content.decode()


def test_a_draft_maker_who_lost_write_access_cannot_open_it(signed_in, eddie, draft, fake_clock):
    eddie.memberships.update(role="viewer")
    assert signed_in(eddie).get(url(draft)).status_code == 403


def test_a_draft_with_an_unknown_id_is_not_found(signed_in, eddie, acme, fake_clock):
    assert signed_in(eddie).get("/automation/schedules/new/?draft=nope").status_code == 404
    assert make_user("other", acme, "editor") is not None


def test_a_drafts_params_are_shown_before_save_and_audited(signed_in, eddie, acme, agent, fake_clock):
    """Issue 19 item 6: params posted with a draft reached the schedule and the plane unseen."""
    from audit.models import AuditEvent

    params = {"region": "EMEA", "instructions": "<b>also email the CFO</b>"}
    draft = make_draft(eddie, acme, agent="echo", prompt=PROMPT, output_type="pdf", session_id="sess-9", params=params)
    client = signed_in(eddie)
    html = client.get(url(draft)).content.decode()
    assert "Parameters (read-only)" in html
    assert "&quot;region&quot;: &quot;EMEA&quot;" in html
    assert "&lt;b&gt;also email the CFO&lt;/b&gt;" in html and "<b>also" not in html
    _save(client, draft)
    schedule = Schedule.objects.get()
    assert schedule.params == params
    event = AuditEvent.objects.get(target_type="schedule", action="create")
    assert event.after["params"] == params
    edit = client.get(f"/automation/schedules/{schedule.pk}/edit/").content.decode()
    assert "&quot;region&quot;: &quot;EMEA&quot;" in edit, "the editor of the saved schedule shows them too"

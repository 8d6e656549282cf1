"""Row actions and their permissions: what each persona is offered, and what the server allows."""

from __future__ import annotations

import json
from html import unescape

import pytest

from audit.models import AuditEvent
from runs.models import RunStatus, ScheduleRun
from schedules.models import Schedule
from tests.automation.pages import controls, hx, names, run_of
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"

# What each persona is offered on a row, and whether the "New schedule" button shows.
OFFERED = {
    "admin": ({"switch Enabled", "button Run now", "button Edit", "button Delete"}, True),
    "editor": ({"switch Enabled", "button Run now", "button Edit"}, True),
    "operator": ({"button Run now"}, False),
    "viewer": (set(), False),
}


def row_controls(html: str, schedule) -> set[str]:
    start = html.index(f'id="schedule-{schedule.pk}-row"')
    row = html[start : html.index("</tr>", start)]
    return {f"{role} {name}" for role, name, _ in controls(row) if role in ("button", "switch")}


@pytest.fixture
def schedule(acme, agent, now):
    return make_schedule(acme, agent, name="Weekday sales", now=now)


@pytest.mark.parametrize("persona", list(OFFERED))
def test_each_role_is_offered_only_what_it_may_do(signed_in, personas, schedule, persona):
    html = signed_in(personas[persona]).get(TABLE).content.decode()
    expected_row, expected_new = OFFERED[persona]
    assert row_controls(html, schedule) == expected_row
    assert ("New schedule" in names(html, "button")) is expected_new


@pytest.mark.parametrize("persona", list(OFFERED))
def test_retry_is_offered_to_those_who_may_run(signed_in, personas, schedule, now, persona):
    run_of(schedule, "failed", at=now, error_code="plane_unreachable")
    html = signed_in(personas[persona]).get(f"{TABLE}{schedule.pk}/").content.decode()
    assert ("Retry" in names(html, "button")) is (persona in ("admin", "editor", "operator"))


def _action(schedule, name):
    run = ScheduleRun.objects.filter(schedule=schedule).first()
    return {
        "enable": f"{TABLE}{schedule.pk}/enable/",
        "disable": f"{TABLE}{schedule.pk}/disable/",
        "run-now": f"{TABLE}{schedule.pk}/run-now/",
        "delete": f"{TABLE}{schedule.pk}/delete/",
        "retry": f"/automation/runs/{run.pk}/retry/" if run else "",
    }[name]


# action -> (permission it needs, personas allowed)
ACTIONS = {
    "disable": ("schedules:write", {"admin", "editor"}),
    "enable": ("schedules:write", {"admin", "editor"}),
    "run-now": ("schedules:run", {"admin", "editor", "operator"}),
    "retry": ("schedules:run", {"admin", "editor", "operator"}),
    "delete": ("schedules:delete", {"admin"}),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("persona", ["admin", "editor", "operator", "viewer", "outsider"])
def test_the_server_enforces_the_same_permissions(signed_in, personas, schedule, now, action, persona):
    run_of(schedule, "failed", at=now)
    permission, allowed = ACTIONS[action]
    response = signed_in(personas[persona]).post(_action(schedule, action), **hx())
    body = response.content.decode()
    if persona == "outsider":
        assert response.status_code == 404
        assert "does not exist, or you cannot see it" in body
    elif persona in allowed:
        assert response.status_code == 204, body
    else:
        assert response.status_code == 403
        assert f"You need the permission {permission}" in body
        assert "data-page-error" in body, "app.js shows it in the alert region"
        assert "<html" not in body


def test_a_forbidden_action_without_javascript_is_a_readable_page(signed_in, victor, schedule):
    response = signed_in(victor).post(f"{TABLE}{schedule.pk}/run-now/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "<html" in html and "Not allowed" in html and "schedules:run (run schedules)" in html


def test_run_now_queues_a_manual_run_and_tells_the_page(signed_in, olga, schedule):
    response = signed_in(olga).post(f"{TABLE}{schedule.pk}/run-now/", {"idempotency_key": "k1"}, **hx())
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"runs:changed": True}
    run = ScheduleRun.objects.get(schedule=schedule)
    assert (run.trigger_type, run.status, run.triggered_by) == ("manual", RunStatus.QUEUED, olga)


def test_a_double_submitted_run_now_starts_one_run(signed_in, olga, schedule):
    client = signed_in(olga)
    for _ in range(2):
        client.post(f"{TABLE}{schedule.pk}/run-now/", {"idempotency_key": "same-form"}, **hx())
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 1


def test_run_now_without_javascript_goes_to_the_schedule(signed_in, olga, schedule):
    response = signed_in(olga).post(f"{TABLE}{schedule.pk}/run-now/")
    assert response.status_code == 302 and response["Location"] == f"{TABLE}{schedule.pk}/"


def test_the_switch_disables_and_enables_and_the_table_refreshes(signed_in, eddie, schedule):
    client = signed_in(eddie)
    response = client.post(f"{TABLE}{schedule.pk}/disable/", **hx())
    assert json.loads(response["HX-Trigger"]) == {"schedule:saved": True, "runs:changed": True}
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    html = client.get(TABLE).content.decode()
    assert 'role="switch" aria-checked="false"' in html and ">Disabled<" in html

    client.post(f"{TABLE}{schedule.pk}/enable/", **hx())
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None
    assert AuditEvent.objects.filter(action__in=["disable", "enable"], actor=eddie).count() == 2


def test_enabling_with_a_disabled_agent_says_why(signed_in, eddie, schedule, agent):
    signed_in(eddie).post(f"{TABLE}{schedule.pk}/disable/", **hx())
    agent.enabled = False
    agent.save()
    response = signed_in(eddie).post(f"{TABLE}{schedule.pk}/enable/", **hx())
    assert response.status_code == 400
    assert unescape(response.content.decode()) == "<p data-page-error>This cannot be saved: agent 'echo' is disabled.</p>"


def test_run_now_with_a_disabled_agent_says_why(signed_in, olga, schedule, agent):
    agent.enabled = False
    agent.save()
    response = signed_in(olga).post(f"{TABLE}{schedule.pk}/run-now/", **hx())
    assert response.status_code == 409
    assert "This cannot be done now: agent 'echo' is disabled" in unescape(response.content.decode())


def test_delete_asks_first_then_deletes_and_goes_back_to_the_list(signed_in, alice, schedule, now):
    run_of(schedule, "success", at=now)
    client = signed_in(alice)
    next_url = f"{TABLE}{schedule.pk}/?org=acme&q=week"
    dialog = client.get(f"{TABLE}{schedule.pk}/delete/", {"next": next_url}, **hx("confirm")).content.decode()
    assert dialog.lstrip().startswith("<dialog data-modal")
    assert "Delete “Weekday sales”?" in dialog and "Its 1 run is deleted with it" in dialog
    assert names(dialog, "button") == ["Delete", "Cancel"]

    response = client.post(f"{TABLE}{schedule.pk}/delete/", {"next": next_url}, **hx())
    assert response.status_code == 204
    assert json.loads(response["HX-Location"]) == {"path": f"{TABLE}?org=acme&q=week", "target": "#main"}
    assert set(json.loads(response["HX-Trigger"])) == {"schedule:saved", "dialog:close"}
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert AuditEvent.objects.filter(action="delete", actor=alice).exists()
    assert "Schedule “Weekday sales” was deleted." in client.get(TABLE).content.decode()


def test_delete_without_javascript_is_a_confirm_page_then_a_redirect(signed_in, alice, schedule):
    client = signed_in(alice)
    page = client.get(f"{TABLE}{schedule.pk}/delete/", {"next": "javascript:alert(1)"}).content.decode()
    assert "<html" in page and "Delete “Weekday sales”?" in page
    cancel = next(attrs for role, name, attrs in controls(page) if name == "Cancel")
    assert cancel["href"] == TABLE, "a next URL from elsewhere is never a link"
    response = client.post(f"{TABLE}{schedule.pk}/delete/", {"next": "https://evil.example.com/"})
    assert response.status_code == 302 and response["Location"] == TABLE


def test_retry_makes_the_next_attempt(signed_in, olga, schedule, now):
    failed = run_of(schedule, "failed", at=now, error_code="plane_unreachable")
    response = signed_in(olga).post(f"/automation/runs/{failed.pk}/retry/", **hx())
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"runs:changed": True}
    retry = ScheduleRun.objects.get(retry_of=failed)
    assert (retry.attempt, retry.trigger_type, retry.status) == (2, "retry", RunStatus.QUEUED)


def test_retrying_a_run_that_succeeded_says_why_not(signed_in, olga, schedule, now):
    ok = run_of(schedule, "success", at=now)
    response = signed_in(olga).post(f"/automation/runs/{ok.pk}/retry/", **hx())
    assert response.status_code == 409
    assert "only failed, timed-out or canceled runs can be retried" in response.content.decode()


def test_actions_need_post(signed_in, alice, schedule):
    assert signed_in(alice).get(f"{TABLE}{schedule.pk}/run-now/").status_code == 405


def test_edit_and_new_open_the_drawer_slot(signed_in, eddie, schedule):
    client = signed_in(eddie)
    new = client.get("/automation/schedules/new/", **hx("drawer")).content.decode()
    assert new.lstrip().startswith("<dialog data-modal") and ">New schedule</h2>" in new
    edit = client.get(f"{TABLE}{schedule.pk}/edit/", **hx("drawer")).content.decode()
    assert ">Edit schedule</h2>" in edit


@pytest.mark.parametrize("persona, status", [("operator", 403), ("viewer", 403), ("outsider", 404)])
def test_the_drawer_is_refused_to_those_who_may_not_write(signed_in, personas, schedule, persona, status):
    client = signed_in(personas[persona])
    assert client.get(f"{TABLE}{schedule.pk}/edit/", **hx("drawer")).status_code == status
    if persona != "outsider":
        assert client.get("/automation/schedules/new/", **hx("drawer")).status_code == status


def test_retrying_a_run_that_succeeded_says_why_not_in_chinese(signed_in, olga, schedule, now):
    ok = run_of(schedule, "success", at=now)
    response = signed_in(olga).post(f"/automation/runs/{ok.pk}/retry/", HTTP_ACCEPT_LANGUAGE="zh-hans", **hx())
    assert response.status_code == 409
    assert "现在无法执行：只有失败、超时或已取消的运行可以重试；此运行的状态为“成功”。" in unescape(
        response.content.decode()
    )
    assert not ScheduleRun.objects.filter(retry_of=ok).exists()

"""The schedule endpoints: auth, create, get, update, delete, enable/disable, run-now, preview;
every status code, readable validation messages, and the audit row of each write."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from audit.models import AuditEvent
from runs.models import ScheduleRun
from schedules.models import Schedule
from tests.api.conftest import API, VALID_SCHEDULE, assert_error
from tests.factories import make_agent, make_membership

pytestmark = pytest.mark.django_db

VALID = VALID_SCHEDULE


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def _create(client, **changes):
    body = {**VALID, **changes}
    return client.post(f"{API}/schedules/", {k: v for k, v in body.items() if v is not ...}, format="json")


# --- auth -------------------------------------------------------------------------------


def test_no_credentials_is_401_with_token_challenge(api, acme):
    response = api(None).get(f"{API}/schedules/")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_401(acme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert_error(client.get(f"{API}/schedules/"), 401, "authentication_failed")


def test_session_auth_needs_csrf_for_writes(alice, agent):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(request=RequestFactory().post("/accounts/login/"), username="alice", password="pw-alice")
    assert client.get(f"{API}/schedules/").status_code == 200
    body = assert_error(client.post(f"{API}/schedules/", VALID, format="json"), 403, "permission_denied")
    assert "CSRF" in body["detail"]
    assert not Schedule.objects.exists()

    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"{API}/schedules/", VALID, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.json()


# --- create -----------------------------------------------------------------------------


def test_create_stores_computes_next_run_and_audits(api, alice, agent):
    response = _create(api(alice), org="acme", output_type="pdf", params={"region": "APAC"})
    assert response.status_code == 201, response.json()
    body = response.json()
    schedule = Schedule.objects.get(pk=body["id"])
    assert schedule.org.slug == "acme" and schedule.agent == agent and schedule.created_by == alice
    assert body["next_run_at"] == "2026-12-01T01:00:00Z"  # 09:00 Shanghai on Tuesday
    assert body["params"] == {"region": "APAC"} and body["output_type"] == "pdf"
    event = AuditEvent.objects.get(action="create")
    assert event.schedule_id == schedule.pk and event.actor == alice and event.org.slug == "acme"
    assert event.after["cron_expression"] == "0 9 * * 1-5" and event.before is None
    assert event.request_id == response.headers["X-Request-ID"]
    assert event.client_ip == "127.0.0.1"


def test_create_keeps_the_callers_request_id_in_the_audit_row(api, alice, agent):
    response = api(alice).post(f"{API}/schedules/", VALID, format="json", HTTP_X_REQUEST_ID="chat-req-42")
    assert response.status_code == 201
    assert AuditEvent.objects.get(action="create").request_id == "chat-req-42"


def test_create_without_org_uses_the_only_membership(api, eddie, agent):
    assert _create(api(eddie)).json()["org"] == "acme"


def test_create_without_org_is_400_for_a_member_of_two_orgs(api, alice, agent, globex):
    make_membership(alice, globex, "admin")
    assert_error(_create(api(alice)), 400, "invalid", "org")


@pytest.mark.parametrize("slug", ["nope", "globex"])
def test_create_in_an_org_one_cannot_read_is_unknown_org(api, alice, agent, globex, slug):
    body = assert_error(_create(api(alice), org=slug), 400, "invalid", "org")
    assert body["errors"]["org"] == [f"unknown org '{slug}'"]  # the same words: existence not revealed


def test_create_by_a_viewer_is_403_naming_write(api, victor, agent):
    body = assert_error(_create(api(victor)), 403, "permission_denied")
    assert body["permission"] == "schedules:write"
    assert body["detail"] == "missing permission schedules:write"


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"cron_expression": "0 25 * * *"}, "cron_expression", "hour 25 is out of range 0-23"),
        ({"cron_expression": "0 0 9 * * *"}, "cron_expression", "second"),
        ({"cron_expression": "61 * * * *"}, "cron_expression", "minute"),
        ({"timezone": "Asia/Shangai"}, "timezone", "did you mean 'Asia/Shanghai'"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"schedule_type": "interval", "interval_seconds": 30}, "interval_seconds", "at least 60"),
        ({"schedule_type": "interval", "interval_seconds": 10**8}, "interval_seconds", "at most"),
        ({"schedule_type": "interval", "interval_seconds": ...}, "interval_seconds", "needs interval_seconds"),
        ({"schedule_type": "once", "run_at": "2026-11-30T00:00:00Z"}, "run_at", "in the past"),
        ({"schedule_type": "weekly"}, "schedule_type", "not a valid choice"),
        ({"agent": "ghost"}, "agent", "unknown agent 'ghost'"),
        ({"prompt": "x" * 20_001}, "prompt", "20000"),
        ({"prompt": "   "}, "prompt", ""),
        ({"output_type": "mp4"}, "output_type", "not a valid choice"),
        ({"max_retries": 11}, "max_retries", "10"),
        ({"max_concurrency": 0}, "max_concurrency", "1"),
        ({"retry_backoff_seconds": []}, "retry_backoff_seconds", ""),
        ({"retry_backoff_seconds": [30, -1]}, "retry_backoff_seconds.1", ""),
        ({"timeout_seconds": 0}, "timeout_seconds", ""),
        ({"params": ["not", "an", "object"]}, "params", "JSON object"),
        ({"params": {"k": "nul\u0000byte"}}, "params", "NUL"),
        ({"start_at": "2027-01-02T00:00:00Z", "end_at": "2027-01-01T00:00:00Z"}, "end_at", "after start_at"),
        ({"run_at": "9999-12-31T23:59:59Z", "schedule_type": "once"}, "run_at", "2999"),
        ({"name": "\u0000"}, "name", ""),
        ({"bogus": 1}, "bogus", "unknown field"),
        ({"status": "ok"}, "status", "read-only field"),
    ],
)
def test_create_rejects_invalid_input_readably_and_stores_nothing(api, alice, agent, changes, field, words):
    body = assert_error(_create(api(alice), **changes), 400, "invalid", field)
    assert words in " ".join(body["errors"][field])
    assert field in body["detail"]
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.exists()


def test_create_with_a_disabled_agent_is_400(api, alice, acme):
    make_agent(acme, "retired", enabled=False)
    assert_error(_create(api(alice), agent="retired"), 400, "invalid", "agent")


def test_body_that_is_not_json_is_400(api, alice):
    response = api(alice).post(f"{API}/schedules/", data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_body_that_is_not_an_object_is_400(api, alice):
    assert_error(api(alice).post(f"{API}/schedules/", [1, 2], format="json"), 400, "invalid", "non_field_errors")


def test_form_encoded_body_is_415(api, alice):
    response = api(alice).post(f"{API}/schedules/", data="name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_wrong_method_is_405_in_the_error_shape(api, alice, schedule):
    assert_error(api(alice).post(f"{API}/schedules/{schedule.pk}/"), 405, "method_not_allowed")


# --- get, update, delete ---------------------------------------------------------------


def test_get_returns_the_schedule(api, victor, schedule):
    response = api(victor).get(f"{API}/schedules/{schedule.pk}/")
    assert response.status_code == 200 and response.json()["name"] == "Acme nightly"


@pytest.mark.parametrize("pk", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_get_of_a_missing_or_malformed_id_is_404(api, alice, pk):
    assert_error(api(alice).get(f"{API}/schedules/{pk}/"), 404, "not_found")


def test_another_orgs_schedule_is_404_on_every_schedule_endpoint(api, alice, globex_schedule):
    client, base = api(alice), f"{API}/schedules/{globex_schedule.pk}"
    for method, url in [
        ("get", f"{base}/"),
        ("patch", f"{base}/"),
        ("put", f"{base}/"),
        ("delete", f"{base}/"),
        ("post", f"{base}/enable/"),
        ("post", f"{base}/disable/"),
        ("post", f"{base}/run-now/"),
        ("get", f"{base}/runs/"),
    ]:
        body = assert_error(getattr(client, method)(url, {}, format="json"), 404, "not_found")
        assert "permission" not in body
    assert Schedule.objects.filter(pk=globex_schedule.pk, enabled=True).exists()
    assert not ScheduleRun.objects.exists()


def test_patch_changes_timing_recomputes_next_run_and_audits_only_the_change(api, eddie, schedule, fake_clock):
    fake_clock.advance(minutes=5)
    response = api(eddie).patch(
        f"{API}/schedules/{schedule.pk}/", {"cron_expression": "30 7 * * *", "name": "Early"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["next_run_at"] == "2026-12-01T07:30:00Z"
    assert response.json()["updated_by"] == "eddie"
    event = AuditEvent.objects.get(action="update")
    assert event.before == {"name": "Acme nightly", "cron_expression": "0 9 * * *"}
    assert event.after == {"name": "Early", "cron_expression": "30 7 * * *"}
    assert event.actor == eddie


def test_patch_that_changes_nothing_writes_no_audit_row(api, eddie, schedule):
    response = api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"name": "Acme nightly"}, format="json")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="update").exists()


def test_patch_invalid_cron_is_400_and_keeps_the_row(api, eddie, schedule):
    assert_error(
        api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"cron_expression": "* * 32 * *"}, format="json"),
        400,
        "invalid",
        "cron_expression",
    )
    schedule.refresh_from_db()
    assert schedule.cron_expression == "0 9 * * *"


def test_patch_end_before_stored_start_is_400(api, eddie, schedule):
    client, url = api(eddie), f"{API}/schedules/{schedule.pk}/"
    assert client.patch(url, {"start_at": "2027-01-02T00:00:00Z"}, format="json").status_code == 200
    assert_error(client.patch(url, {"end_at": "2027-01-01T00:00:00Z"}, format="json"), 400, "invalid", "end_at")


def test_patch_cannot_move_a_schedule_to_another_org(api, alice, schedule, globex):
    assert_error(api(alice).patch(f"{API}/schedules/{schedule.pk}/", {"org": "globex"}, format="json"), 400,
                 "invalid", "org")


def test_put_needs_the_required_fields(api, eddie, schedule):
    body = assert_error(api(eddie).put(f"{API}/schedules/{schedule.pk}/", {"name": "x"}, format="json"), 400)
    assert {"agent", "prompt"} <= set(body["errors"])


def test_put_replaces_the_given_fields(api, eddie, schedule):
    response = api(eddie).put(
        f"{API}/schedules/{schedule.pk}/",
        {**VALID, "schedule_type": "interval", "interval_seconds": 3600, "cron_expression": ""},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["schedule_type"] == "interval" and body["interval_seconds"] == 3600
    assert body["cron_expression"] == "" and body["timing_description"]


def test_delete_removes_and_audits_with_the_before_state(api, alice, schedule):
    response = api(alice).delete(f"{API}/schedules/{schedule.pk}/")
    assert response.status_code == 204
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    event = AuditEvent.objects.get(action="delete")
    assert event.schedule_id == schedule.pk and event.before["name"] == "Acme nightly" and event.after is None


def test_delete_by_an_editor_is_403_naming_delete(api, eddie, schedule):
    body = assert_error(api(eddie).delete(f"{API}/schedules/{schedule.pk}/"), 403, "permission_denied")
    assert body["permission"] == "schedules:delete"
    assert Schedule.objects.filter(pk=schedule.pk).exists()


# --- enable / disable ------------------------------------------------------------------


def test_disable_then_enable(api, eddie, schedule, fake_clock):
    client = api(eddie)
    body = client.post(f"{API}/schedules/{schedule.pk}/disable/").json()
    assert body["enabled"] is False and body["status"] == "disabled" and body["next_run_at"] is None
    fake_clock.advance(days=2)
    response = client.post(f"{API}/schedules/{schedule.pk}/enable/")
    assert response.status_code == 200
    assert response.json()["next_run_at"] == "2026-12-03T09:00:00Z"  # from now: no catch-up
    actions = list(AuditEvent.objects.filter(schedule_id=schedule.pk).order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["disable", "enable"]
    assert AuditEvent.objects.get(action="disable").after == {"enabled": False}


def test_enable_with_a_disabled_agent_is_400(api, eddie, schedule, agent):
    api(eddie).post(f"{API}/schedules/{schedule.pk}/disable/")
    agent.enabled = False
    agent.save()
    assert_error(api(eddie).post(f"{API}/schedules/{schedule.pk}/enable/"), 400, "invalid", "agent")


# --- run-now ----------------------------------------------------------------------------


def test_run_now_is_202_with_the_run_and_audited(api, olga, schedule):
    response = api(olga).post(f"{API}/schedules/{schedule.pk}/run-now/")
    assert response.status_code == 202, response.json()
    run = ScheduleRun.objects.get()
    body = response.json()
    assert body["id"] == str(run.pk) and body["trigger_type"] == "manual" and body["status"] == "queued"
    assert body["triggered_by"] == "olga" and body["schedule"] == str(schedule.pk)
    event = AuditEvent.objects.get(action="run_now")
    assert event.actor == olga and event.schedule_id == schedule.pk and event.target_id == str(run.pk)


def test_run_now_with_the_same_idempotency_key_returns_the_same_run(api, olga, schedule):
    client, url = api(olga), f"{API}/schedules/{schedule.pk}/run-now/"
    first = client.post(url, HTTP_IDEMPOTENCY_KEY="chat-msg-1")
    again = client.post(url, HTTP_IDEMPOTENCY_KEY="chat-msg-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert ScheduleRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="run_now").count() == 1
    other = client.post(url, HTTP_IDEMPOTENCY_KEY="chat-msg-2")
    assert other.json()["id"] != first.json()["id"]


def test_run_now_rejects_an_unusable_idempotency_key(api, olga, schedule):
    response = api(olga).post(f"{API}/schedules/{schedule.pk}/run-now/", HTTP_IDEMPOTENCY_KEY="k" * 129)
    assert_error(response, 400, "invalid", "Idempotency-Key")
    assert not ScheduleRun.objects.exists()


def test_run_now_with_a_disabled_agent_is_409(api, olga, schedule, agent):
    agent.enabled = False
    agent.save()
    assert_error(api(olga).post(f"{API}/schedules/{schedule.pk}/run-now/"), 409, "conflict")
    assert not ScheduleRun.objects.exists()


def test_run_now_by_a_viewer_is_403_naming_run(api, victor, schedule):
    body = assert_error(api(victor).post(f"{API}/schedules/{schedule.pk}/run-now/"), 403)
    assert body["permission"] == "schedules:run"


# --- preview ----------------------------------------------------------------------------


def test_preview_describes_and_lists_utc_times(api, victor):
    response = api(victor).post(
        f"{API}/schedules/preview/",
        {"schedule_type": "cron", "cron_expression": "0 9 * * 1-5", "timezone": "Asia/Shanghai", "count": 3},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["description"].startswith("At 09:00")
    assert body["next_runs"] == ["2026-12-01T01:00:00Z", "2026-12-02T01:00:00Z", "2026-12-03T01:00:00Z"]
    assert body["next_runs_local"][0] == "2026-12-01T09:00:00+08:00"


def test_preview_after_and_default_count(api, victor):
    response = api(victor).post(
        f"{API}/schedules/preview/",
        {"schedule_type": "interval", "interval_seconds": 3600, "after": "2027-01-01T00:00:00Z"},
        format="json",
    )
    runs = response.json()["next_runs"]
    assert len(runs) == 5 and runs[0] == "2027-01-01T01:00:00Z"


def test_preview_in_chinese_by_accept_language(api, victor):
    response = api(victor).post(
        f"{API}/schedules/preview/",
        {"schedule_type": "interval", "interval_seconds": 900},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-Hans",
    )
    assert "15" in response.json()["description"] and "分钟" in response.json()["description"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"schedule_type": "cron", "cron_expression": "0 9 * * 8"}, "cron_expression"),
        ({"schedule_type": "cron"}, "cron_expression"),
        ({"schedule_type": "cron", "cron_expression": "@daily", "count": 0}, "count"),
        ({"schedule_type": "cron", "cron_expression": "@daily", "count": 51}, "count"),
        ({"schedule_type": "cron", "cron_expression": "@daily", "timezone": "Europe/Pariss"}, "timezone"),
        ({"schedule_type": "once", "run_at": "2020-01-01T00:00:00Z"}, "run_at"),
        ({"schedule_type": "interval", "interval_seconds": 5}, "interval_seconds"),
        ({"schedule_type": "cron", "cron_expression": "@daily", "name": "x"}, "name"),
        ({}, "schedule_type"),
    ],
)
def test_preview_rejects_bad_timing_with_the_field(api, victor, body, field):
    assert_error(api(victor).post(f"{API}/schedules/preview/", body, format="json"), 400, "invalid", field)


def test_pause_after_failures_is_set_through_the_api_and_the_pause_reason_is_read(api, eddie, schedule):
    response = api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"pause_after_failures": 4}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["pause_after_failures"], response.json()["paused_reason"]) == (4, "")
    assert AuditEvent.objects.get(action="update").after == {"pause_after_failures": 4}
    response = api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"pause_after_failures": 0}, format="json")
    assert_error(response, 400, field="pause_after_failures")


def test_a_bad_cron_expression_is_answered_in_english_by_default(api, eddie, agent):
    body = assert_error(_create(api(eddie), cron_expression="0 25 * * *"), 400, "invalid", "cron_expression")
    assert body["errors"]["cron_expression"] == ["hour 25 is out of range 0-23"]
    assert body["detail"] == "cron_expression: hour 25 is out of range 0-23"


def test_the_api_answers_in_the_requested_language_as_drf_does(api, eddie, agent):
    # LocaleMiddleware activates the Accept-Language of the request: DRF's own messages and
    # ours follow it together, so one answer never mixes two languages.
    client = api(eddie)
    body = {**VALID, "cron_expression": "0 25 * * *"}
    body.pop("name")
    response = client.post(f"{API}/schedules/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    errors = assert_error(response, 400, "invalid")["errors"]
    assert errors["cron_expression"] == ["小时 25 超出范围 0-23"]
    assert errors["name"] == ["该字段是必填项。"]


def test_a_missing_permission_is_named_in_the_requested_language_with_the_same_code(api, victor, agent):
    response = api(victor).post(f"{API}/schedules/", VALID, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = assert_error(response, 403, "permission_denied")
    assert (body["detail"], body["permission"]) == ("缺少权限 schedules:write", "schedules:write")

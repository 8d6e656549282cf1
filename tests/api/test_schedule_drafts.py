"""POST /api/v1/schedule-drafts/: a chat result waiting to become a schedule."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from schedules.models import ScheduleDraft
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db

DRAFTS = f"{API}/schedule-drafts/"
FROM_CHAT = {
    "agent": "echo",
    "prompt": "Summarise yesterday's sales as a PDF, by region.",
    "output_type": "pdf",
    "session_id": "sess-42",
    "message_id": "msg-7",
}


def test_an_editor_makes_a_draft_and_gets_the_editor_url(api, eddie, agent, fake_clock):
    response = api(eddie).post(DRAFTS, FROM_CHAT, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url"] == f"/automation/schedules/new/?draft={body['id']}"
    assert body["expires_at"] == "2026-12-02T00:00:00Z"  # T0 + 24 h
    assert (body["org"], body["agent"], body["output_type"]) == ("acme", "echo", "pdf")
    assert body["name"] == "Summarise yesterday's sales as a PDF, by region"  # the first sentence, whole
    draft = ScheduleDraft.objects.get(pk=body["id"])
    assert (draft.created_by, draft.session_id, draft.message_id) == (eddie, "sess-42", "msg-7")


def test_a_given_name_and_org_are_kept(api, alice, agent, fake_clock):
    body = {**FROM_CHAT, "org": "acme", "name": "Sales brief", "params": {"region": "APAC"}}
    response = api(alice).post(DRAFTS, body, format="json")
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["params"]) == ("Sales brief", {"region": "APAC"})


def test_the_browser_session_works_too_with_its_csrf_token(eddie, agent):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(eddie)
    assert browser.post(DRAFTS, FROM_CHAT, content_type="application/json").status_code == 403
    browser.get("/demo/chat/sess-42/")  # any page that sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(DRAFTS, FROM_CHAT, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


@pytest.fixture(autouse=True)
def _demo_on(settings):
    settings.DEMO_CHAT = True


def test_a_viewer_may_not_make_drafts(api, victor, agent):
    body = assert_error(api(victor).post(DRAFTS, FROM_CHAT, format="json"), 403)
    assert body["permission"] == "schedules:write"
    assert not ScheduleDraft.objects.exists()


def test_another_orgs_members_are_told_the_org_does_not_exist(api, mallory, agent):
    assert_error(api(mallory).post(DRAFTS, {**FROM_CHAT, "org": "acme"}, format="json"), 404, "not_found")
    assert not ScheduleDraft.objects.exists()


def test_anonymous_callers_are_refused(api, agent):
    assert api(None).post(DRAFTS, FROM_CHAT, format="json").status_code == 401


def test_a_draft_is_its_creators_alone(api, eddie, alice, mallory, agent, fake_clock):
    draft_id = api(eddie).post(DRAFTS, FROM_CHAT, format="json").json()["id"]
    assert api(eddie).get(f"{DRAFTS}{draft_id}/").status_code == 200
    # Alice is admin of the same org; still not hers.
    assert_error(api(alice).get(f"{DRAFTS}{draft_id}/"), 404, "not_found")
    assert_error(api(mallory).get(f"{DRAFTS}{draft_id}/"), 404, "not_found")


def test_a_draft_expires_after_the_ttl_and_is_deleted(api, eddie, agent, fake_clock, settings):
    settings.SCHEDULE_DRAFT_TTL = 3600
    draft_id = api(eddie).post(DRAFTS, FROM_CHAT, format="json").json()["id"]
    fake_clock.advance(3599)
    assert api(eddie).get(f"{DRAFTS}{draft_id}/").status_code == 200
    fake_clock.advance(1)
    body = assert_error(api(eddie).get(f"{DRAFTS}{draft_id}/"), 404, "not_found")
    assert "expired" in body["detail"]
    assert not ScheduleDraft.objects.filter(pk=draft_id).exists()


def test_expired_drafts_go_when_the_org_makes_a_new_one_and_by_the_command(api, eddie, agent, fake_clock):
    old = api(eddie).post(DRAFTS, FROM_CHAT, format="json").json()["id"]
    fake_clock.advance(hours=24)
    new = api(eddie).post(DRAFTS, FROM_CHAT, format="json").json()["id"]
    assert [str(pk) for pk in ScheduleDraft.objects.values_list("pk", flat=True)] == [new]
    assert old != new
    fake_clock.advance(hours=24)
    call_command("delete_expired_drafts", verbosity=0)
    assert not ScheduleDraft.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent": "nope"}, "agent"),
        ({"prompt": "x" * 20_001}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"output_type": "gif"}, "output_type"),
        ({"session_id": ""}, "session_id"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_400_with_the_field(api, eddie, agent, change, field):
    assert_error(api(eddie).post(DRAFTS, {**FROM_CHAT, **change}, format="json"), 400, field=field)
    assert not ScheduleDraft.objects.exists()


def test_a_disabled_agent_is_refused(api, eddie, agent):
    agent.enabled = False
    agent.save()
    body = assert_error(api(eddie).post(DRAFTS, FROM_CHAT, format="json"), 400, field="agent")
    assert "disabled" in body["errors"]["agent"][0]


def test_the_draft_endpoint_is_in_the_schema(client):
    schema = yaml.safe_load(client.get(f"{API}/schema/").content)
    create = schema["paths"][f"{API}/schedule-drafts/"]["post"]
    assert set(create["responses"]) >= {"201", "400", "401", "403", "404"}
    draft = schema["components"]["schemas"]["Draft"]
    assert {"id", "url", "expires_at"} <= set(draft["required"])
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DraftInputRequest")


def test_cross_origin_callers_in_cors_allowed_origins_get_cors_headers(api, eddie, agent, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://chat.example.com"]
    preflight = api(None).options(
        DRAFTS,
        HTTP_ORIGIN="https://chat.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert preflight["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight  # token auth only across origins
    other = api(eddie).post(DRAFTS, FROM_CHAT, format="json", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other

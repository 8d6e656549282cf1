"""`manage.py seed_demo` and the echo agent it points at."""

from __future__ import annotations

import json
import subprocess
from io import StringIO

import pytest
from django.test import RequestFactory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command

from audit.models import AuditEvent
from schedules.models import Agent, Membership, Organization, Role, Schedule
from tests.factories import make_user


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot() -> dict:
    User = get_user_model()
    return {
        "orgs": list(Organization.objects.values_list("pk", "slug")),
        "users": list(User.objects.values_list("pk", "username")),
        "memberships": list(Membership.objects.values_list("pk", "role")),
        "permissions": sorted(User.user_permissions.through.objects.values_list("pk", flat=True)),
        "agents": list(Agent.objects.values_list("pk", "slug")),
        "schedules": list(Schedule.objects.order_by("name").values_list("pk", "name", "next_run_at", "updated_at")),
        "audit": AuditEvent.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_twice_leaves_the_same_rows(fake_clock):
    first_output = seed()
    first = snapshot()
    fake_clock.advance(hours=5)
    second_output = seed()
    assert snapshot() == first
    assert "created org demo" in first_output
    assert not [line for line in second_output.splitlines() if line.startswith("created")]
    assert "found   org demo" in second_output


@pytest.mark.django_db
def test_seed_demo_creates_org_admin_agent_and_one_schedule_of_each_type(fake_clock):
    seed()
    org = Organization.objects.get(slug="demo")
    membership = Membership.objects.get(user__username="demo", org=org)
    assert membership.role == Role.ADMIN
    agent = Agent.objects.get(org=org, slug="echo")
    assert agent.enabled
    assert "echo" in settings.LOCAL_AGENTS  # the local plane knows how to run it
    schedules = Schedule.objects.filter(org=org, agent=agent)
    assert sorted(s.schedule_type for s in schedules) == ["cron", "interval", "once"]
    for schedule in schedules:
        assert schedule.enabled and schedule.next_run_at is not None, schedule.name
        assert schedule.next_run_at > fake_clock.now()
    # Made through the service: each has its create event, by the demo user.
    assert AuditEvent.objects.filter(action="create", actor=membership.user).count() == 3


@pytest.mark.django_db
def test_demo_is_an_org_admin_without_staff_rights_and_cannot_reach_the_admin(client, fake_clock):
    seed()
    user = get_user_model().objects.get(username="demo")
    assert not user.is_staff and not user.is_superuser
    # An org role never comes with model permissions: those would apply to every org.
    assert user.get_all_permissions() == set()
    assert client.login(request=RequestFactory().post("/accounts/login/"), username="demo", password="demo")
    for path in ("/admin/", "/admin/schedules/membership/", "/admin/schedules/schedule/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), path


@pytest.mark.django_db
def test_demo_logs_in_for_the_api_and_sees_its_org(client, fake_clock):
    seed()
    response = client.post("/api-auth/login/", {"username": "demo", "password": "demo"})
    assert response.status_code == 302
    rows = client.get("/api/v1/schedules/").json()["results"]
    assert len(rows) == 3 and {row["org"] for row in rows} == {"demo"}


@pytest.mark.django_db
def test_support_is_staff_with_the_admins_model_permissions_and_no_org(client, fake_clock):
    seed()
    user = get_user_model().objects.get(username="support")
    assert user.is_staff and not user.is_superuser
    assert not Membership.objects.filter(user=user).exists()
    assert user.has_perm("schedules.change_schedule") and user.has_perm("schedules.change_membership")
    assert user.has_perm("audit.view_auditevent") and not user.has_perm("runs.change_schedulerun")
    assert not user.has_perm("auth.change_user")
    assert client.login(request=RequestFactory().post("/accounts/login/"), username="support", password="support")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/schedules/schedule/").status_code == 200
    assert client.get("/admin/runs/schedulerun/").status_code == 200
    assert client.get("/admin/runs/schedulerun/add/").status_code == 403


@pytest.mark.django_db
def test_seed_demo_takes_back_the_staff_rights_older_seeds_gave_demo(fake_clock):
    User = get_user_model()
    old = make_user("demo", password="demo", is_staff=True)
    old.user_permissions.add(*Permission.objects.filter(content_type__app_label="schedules"))
    output = seed()
    user = User.objects.get(pk=old.pk)
    assert not user.is_staff and user.get_all_permissions() == set()
    assert "revoked staff rights" in output


@pytest.mark.django_db
def test_seed_demo_audits_the_org_membership_and_agent_it_creates(fake_clock):
    seed()
    created = set(AuditEvent.objects.filter(action="create", request_id="seed_demo").values_list("target_type", flat=True))
    assert created == {"organization", "membership", "agent", "schedule"}
    membership = AuditEvent.objects.get(target_type="membership")
    assert membership.org.slug == "demo" and membership.schedule_id is None
    assert membership.after == {"user": "demo", "org": "demo", "role": "admin"}


@pytest.mark.django_db
def test_seed_demo_restores_a_changed_demo_password(client, fake_clock):
    seed()
    user = get_user_model().objects.get(username="demo")
    user.set_password("something-else")
    user.save()
    seed()
    assert client.login(request=RequestFactory().post("/accounts/login/"), username="demo", password="demo")


# --- the echo agent, run as the local plane runs it ----------------------------------------


def run_echo(payload, timeout=30) -> subprocess.CompletedProcess:
    stdin = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(settings.LOCAL_AGENTS["echo"], input=stdin, capture_output=True, text=True, timeout=timeout)


PAYLOAD = {
    "agent": "echo",
    "prompt": "Summarise yesterday's sales\nfor the APAC region",
    "output_type": "markdown",
    "params": {"region": "APAC"},
    "metadata": {"trigger_type": "scheduled", "job_run_id": "abc-20261201T090000Z-1", "attempt": 1},
}


def test_echo_agent_answers_with_markdown_built_from_the_prompt():
    result = run_echo(PAYLOAD)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# Echo: Summarise yesterday's sales")
    assert "> Summarise yesterday's sales\n> for the APAC region" in out
    assert "abc-20261201T090000Z-1" in out and '"region": "APAC"' in out
    assert result.stderr == ""


def test_echo_agent_fails_on_the_word_fail():
    result = run_echo({**PAYLOAD, "prompt": "Please FAIL this run"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "FAIL" in result.stderr


def test_echo_agent_does_not_fail_on_fail_inside_a_word():
    assert run_echo({**PAYLOAD, "prompt": "FAILOVER drill report"}).returncode == 0


def test_echo_agent_rejects_input_that_is_not_json():
    result = run_echo("this is not json")
    assert result.returncode == 2
    assert "not JSON" in result.stderr

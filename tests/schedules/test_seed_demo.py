"""`manage.py seed_demo` and the echo agent it points at."""

from __future__ import annotations

import json
import subprocess
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.models import AuditEvent
from schedules.models import Agent, Membership, Organization, Role, Schedule


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
def test_demo_user_can_log_in_with_demo_password(client, fake_clock):
    seed()
    assert client.login(username="demo", password="demo")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/schedules/schedule/").status_code == 200
    assert client.get("/admin/runs/schedulerun/").status_code == 200
    assert client.get("/admin/runs/schedulerun/add/").status_code == 403


@pytest.mark.django_db
def test_demo_user_is_staff_but_not_superuser(fake_clock):
    # A superuser would see every org through the API; demo shows what an org admin sees.
    seed()
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and not user.is_superuser
    assert user.has_perm("schedules.change_schedule") and not user.has_perm("runs.change_schedulerun")
    assert user.has_perm("audit.view_auditevent") and not user.has_perm("auth.change_user")


@pytest.mark.django_db
def test_seed_demo_restores_a_changed_demo_password(client, fake_clock):
    seed()
    user = get_user_model().objects.get(username="demo")
    user.set_password("something-else")
    user.save()
    seed()
    assert client.login(username="demo", password="demo")


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

"""The admin: every model opens for a superuser, history is read-only, schedule saves go
through the services, and staff permissions are respected."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from runs.alerts.services import alert_raise
from runs.models import (
    Alert, AlertChannel, AlertDelivery, AlertEvent, DeliveryAttempt, RunTally, ScheduleRun, SchedulerHeartbeat,
)
from schedules.models import Agent, Membership, Organization, Schedule, ScheduleDraft, UsageMonth
from tests.constants import UTC, T0, NINE
from tests.factories import make_agent, make_draft, make_heartbeat, make_run, make_schedule, make_user

pytestmark = pytest.mark.django_db

OUR_APPS = {"schedules", "runs", "audit"}
READ_ONLY = {
    ScheduleRun, SchedulerHeartbeat, AuditEvent, ScheduleDraft, Alert, AlertEvent, AlertChannel, AlertDelivery,
    DeliveryAttempt, RunTally, UsageMonth,
}


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(db):
    return make_user("root", superuser=True, email="root@example.com")


@pytest.fixture
def su_client(client, superuser, fake_clock):
    client.force_login(superuser)
    return client


@pytest.fixture
def schedule(acme, agent):
    return make_schedule(acme, agent, cron_expression="0 9 * * *")


@pytest.fixture
def objects(acme, agent, alice, schedule):
    run = make_run(schedule, at=NINE, now=T0)
    heartbeat = make_heartbeat("host-1:42")
    channel = AlertChannel.objects.create(org=acme, kind="email", name="Ops", target="ops@example.com", created_at=T0, updated_at=T0)
    alert = alert_raise(org_id=acme.pk, cause="consecutive_failures", schedule_id=schedule.pk, detail="3 failed", now=T0)
    delivery = AlertDelivery.objects.get()
    attempt = DeliveryAttempt.objects.create(delivery=delivery, at=T0, ok=True)
    return {
        Alert: alert,
        AlertEvent: AlertEvent.objects.get(),
        AlertChannel: channel,
        AlertDelivery: delivery,
        DeliveryAttempt: attempt,
        RunTally: RunTally.objects.create(through=T0, org=acme, status="success", trigger_type="scheduled", runs=3),
        Organization: acme,
        Membership: Membership.objects.get(user=alice),
        Agent: agent,
        Schedule: schedule,
        ScheduleRun: run,
        SchedulerHeartbeat: heartbeat,
        AuditEvent: AuditEvent.objects.first(),
        ScheduleDraft: make_draft(
            alice, acme, agent=agent.slug, prompt="Sum up sales", session_id="sess-1"
        ),
        UsageMonth: UsageMonth.objects.create(org=acme, schedule=schedule, month=T0.date(), period_end=T0, total_tokens=5),
    }


def test_every_model_of_our_apps_is_in_the_admin(objects):
    from django.apps import apps

    ours = {m for label in OUR_APPS for m in apps.get_app_config(label).get_models()}
    assert ours == set(objects)
    assert all(admin.site.is_registered(m) for m in ours)


@pytest.mark.parametrize(
    "model",
    [
        Organization, Membership, Agent, Schedule, ScheduleRun, SchedulerHeartbeat, AuditEvent, ScheduleDraft, Alert,
        AlertEvent, AlertChannel, AlertDelivery, DeliveryAttempt, RunTally, UsageMonth,
    ],
    ids=lambda m: m._meta.model_name,
)
def test_superuser_opens_changelist_add_and_change(su_client, objects, model):
    obj = objects[model]
    changelist = su_client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert obj in list(changelist.context["cl"].result_list)
    assert su_client.get(url(model, "change", obj.pk)).status_code == 200
    add = su_client.get(url(model, "add"))
    assert add.status_code == (403 if model in READ_ONLY else 200)
    # Search and every list filter render (no broken lookups).
    assert su_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200


@pytest.mark.parametrize("model", sorted(READ_ONLY, key=str), ids=lambda m: m._meta.model_name)
def test_history_is_read_only_in_the_admin(su_client, objects, model):
    obj = objects[model]
    page = su_client.get(url(model, "change", obj.pk)).content.decode()
    assert 'name="_save"' not in page
    assert su_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert su_client.get(url(model, "delete", obj.pk)).status_code == 403
    assert su_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
    changelist = su_client.get(url(model, "changelist"))
    assert "delete_selected" not in changelist.content.decode()


def schedule_form(agent, org=None, **overrides):
    data = {
        "agent": agent.pk,
        "name": "Admin-made",
        "description": "",
        "prompt": "Say hello",
        "output_type": "markdown",
        "params": "{}",
        "schedule_type": "cron",
        "cron_expression": "0 9 * * *",
        "interval_seconds": "",
        "run_at_0": "",
        "run_at_1": "",
        "timezone": "Asia/Shanghai",
        "start_at_0": "",
        "start_at_1": "",
        "end_at_0": "",
        "end_at_1": "",
        "enabled": "on",
        "max_concurrency": "1",
        "overlap_policy": "skip",
        "max_retries": "3",
        "retry_backoff_seconds": "[30, 60, 300, 900, 3600]",
        "timeout_seconds": "1800",
        "catchup_window_seconds": "3600",
        "alert_after_failures": "3",
        "success_checks": "[]",
        "retry_failed_checks": "on",
        "source_session_id": "",
        "source_message_id": "",
        "_save": "Save",
    }
    if org is not None:
        data["org"] = org.pk
    data.update(overrides)
    return data


def test_adding_a_schedule_in_the_admin_computes_next_run_and_audits(su_client, superuser, acme, agent):
    response = su_client.post(url(Schedule, "add"), schedule_form(agent, acme), HTTP_X_REQUEST_ID="admin-req-1")
    assert response.status_code == 302, response.content.decode()
    schedule = Schedule.objects.get(name="Admin-made")
    # 09:00 Shanghai = 01:00Z, after the fake clock's T0.
    assert schedule.next_run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert (schedule.created_at, schedule.created_by) == (T0, superuser)
    event = AuditEvent.objects.get(action="create", schedule_id=schedule.pk)
    assert (event.actor, event.request_id) == (superuser, "admin-req-1")
    # The admin's own history entry points at the row the service saved, not a phantom id.
    from django.contrib.admin.models import ADDITION, LogEntry

    assert LogEntry.objects.get(action_flag=ADDITION).object_id == str(schedule.pk)


def test_changing_timing_in_the_admin_recomputes_next_run_and_audits(su_client, superuser, schedule, agent, fake_clock):
    fake_clock.advance(hours=2)
    data = schedule_form(agent, name=schedule.name, prompt=schedule.prompt, timezone="UTC", cron_expression="30 6 * * *")
    response = su_client.post(url(Schedule, "change", schedule.pk), data)
    assert response.status_code == 302, response.content.decode()
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    assert (schedule.updated_by, schedule.updated_at) == (superuser, T0 + timedelta(hours=2))
    event = AuditEvent.objects.get(action="update")
    assert event.before == {"cron_expression": "0 9 * * *"} and event.after == {"cron_expression": "30 6 * * *"}
    assert event.actor == superuser
    assert Schedule.objects.count() == 1


def test_changing_only_the_name_in_the_admin_keeps_next_run(su_client, schedule, agent, fake_clock):
    before = schedule.next_run_at
    fake_clock.advance(hours=12)  # past the fire time
    data = schedule_form(agent, name="Renamed", prompt=schedule.prompt, timezone="UTC")
    assert su_client.post(url(Schedule, "change", schedule.pk), data).status_code == 302
    schedule.refresh_from_db()
    assert (schedule.name, schedule.next_run_at) == ("Renamed", before)


@pytest.mark.parametrize(
    "overrides, field, text",
    [
        ({"cron_expression": "0 25 * * *"}, "cron_expression", "25"),
        ({"timezone": "Asia/Shangai"}, "timezone", "Asia/Shangai"),
        ({"schedule_type": "once", "run_at_0": "2026-11-30", "run_at_1": "12:00:00"}, "run_at", "past"),
        ({"max_retries": "11"}, "max_retries", "10"),
    ],
    ids=["bad-hour", "bad-zone", "once-in-past", "too-many-retries"],
)
def test_invalid_schedule_in_the_admin_shows_the_error_and_stores_nothing(su_client, acme, agent, overrides, field, text):
    response = su_client.post(url(Schedule, "add"), schedule_form(agent, acme, **overrides))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert field in form.errors or form.non_field_errors(), form.errors
    assert text in str(form.errors)
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.exists()


def test_agent_of_another_org_is_refused_in_the_admin(su_client, acme, globex):
    spy = make_agent(globex, "spy")
    response = su_client.post(url(Schedule, "add"), schedule_form(spy, acme))
    assert response.status_code == 200
    assert "spy" in " ".join(response.context["adminform"].form.errors["agent"])
    assert not Schedule.objects.exists()


def test_org_is_read_only_on_an_existing_schedule(su_client, schedule):
    form = su_client.get(url(Schedule, "change", schedule.pk)).context["adminform"].form
    assert "org" not in form.fields and "next_run_at" not in form.fields
    assert "consecutive_failures" not in form.fields and "created_at" not in form.fields


def test_deleting_a_schedule_that_ran_goes_through_the_service(su_client, superuser, objects, schedule):
    confirm = su_client.get(url(Schedule, "delete", schedule.pk))
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"], "runs go with their schedule"
    response = su_client.post(url(Schedule, "delete", schedule.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert not ScheduleRun.objects.exists()
    event = AuditEvent.objects.get(action="delete")
    assert (event.schedule_id, event.actor) == (schedule.pk, superuser)


def test_enable_and_disable_actions_go_through_the_service(su_client, schedule):
    changelist = url(Schedule, "changelist")
    su_client.post(changelist, {"action": "disable_selected", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    su_client.post(changelist, {"action": "enable_selected", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["create", "disable", "enable"]


def test_schedule_search_finds_by_id_name_and_prompt(su_client, acme, agent, schedule):
    other = make_schedule(acme, agent, name="Weekly digest", prompt="Digest the week")
    for term, expected in [(str(schedule.pk), schedule), ("Weekly", other), ("Digest the", other)]:
        result = su_client.get(url(Schedule, "changelist"), {"q": term})
        assert list(result.context["cl"].result_list) == [expected], term


def test_schedule_status_filter_in_the_admin(su_client, acme, agent, schedule):
    off = make_schedule(acme, agent, name="Paused", enabled=False)
    result = su_client.get(url(Schedule, "changelist"), {"status": "disabled"})
    assert list(result.context["cl"].result_list) == [off]
    result = su_client.get(url(Schedule, "changelist"), {"status": "ok"})
    assert list(result.context["cl"].result_list) == [schedule]


def test_run_search_finds_by_job_run_id_and_schedule_id(su_client, objects):
    run = objects[ScheduleRun]
    for term in (run.job_run_id, str(run.schedule_id), str(run.pk)):
        result = su_client.get(url(ScheduleRun, "changelist"), {"q": term})
        assert list(result.context["cl"].result_list) == [run], term


def test_runs_link_on_a_schedule_filters_its_runs(su_client, objects, schedule):
    page = su_client.get(url(Schedule, "change", schedule.pk)).content.decode()
    link = url(ScheduleRun, "changelist") + f"?schedule__id__exact={schedule.pk}"
    assert link in page
    result = su_client.get(link)
    assert result.status_code == 200
    assert list(result.context["cl"].result_list) == [objects[ScheduleRun]]


def test_audit_search_by_schedule_id(su_client, objects, schedule):
    result = su_client.get(url(AuditEvent, "changelist"), {"q": str(schedule.pk)})
    assert result.status_code == 200
    assert [e.action for e in result.context["cl"].result_list] == ["create"]
    assert su_client.get(url(AuditEvent, "changelist"), {"q": "not-a-uuid"}).status_code == 200


# --- staff permissions ----------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return make_user("support", is_staff=True)


@pytest.mark.parametrize(
    "model",
    [
        Organization, Membership, Agent, Schedule, ScheduleRun, SchedulerHeartbeat, AuditEvent, ScheduleDraft, Alert,
        AlertEvent, AlertChannel, AlertDelivery, DeliveryAttempt, RunTally, UsageMonth,
    ],
    ids=lambda m: m._meta.model_name,
)
def test_staff_without_model_permission_gets_403(client, staff, objects, model):
    client.force_login(staff)
    assert client.get(url(model, "changelist")).status_code == 403
    assert client.get(url(model, "change", objects[model].pk)).status_code == 403


def test_staff_without_permissions_sees_no_models(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["app_list"] == []


def test_view_permission_on_runs_shows_runs_and_nothing_else(client, staff, objects):
    staff.user_permissions.add(Permission.objects.get(codename="view_schedulerun"))
    client.force_login(staff)
    assert client.get(url(ScheduleRun, "changelist")).status_code == 200
    assert client.get(url(ScheduleRun, "change", objects[ScheduleRun].pk)).status_code == 200
    assert client.get(url(Schedule, "changelist")).status_code == 403


def test_view_only_staff_cannot_save_a_schedule(client, staff, schedule, agent):
    staff.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    client.force_login(staff)
    assert client.get(url(Schedule, "change", schedule.pk)).status_code == 200
    data = schedule_form(agent, name="Hijacked", prompt=schedule.prompt, timezone="UTC")
    assert client.post(url(Schedule, "change", schedule.pk), data).status_code == 403
    schedule.refresh_from_db()
    assert schedule.name == "Nightly report"


def test_object_permissions_page_is_reachable_for_a_superuser(su_client, schedule):
    response = su_client.get(url(Schedule, "permissions", schedule.pk))
    assert response.status_code == 200


def test_schedule_page_reads_the_timing_out_in_words_with_next_runs(su_client, acme, agent):
    schedule = make_schedule(acme, agent, cron_expression="0 9 * * 1-5", timezone="Asia/Shanghai")
    page = su_client.get(url(Schedule, "change", schedule.pk)).content.decode()
    assert "09:00" in page and "Asia/Shanghai" in page
    # T0 is Tuesday 2026-12-01 00:00Z: 09:00 Shanghai that day is 01:00Z.
    assert "2026-12-01T09:00:00+08:00 (2026-12-01T01:00:00Z UTC)" in page


# --- who reaches the admin, and what support changes there is audited -------------------------


@pytest.mark.parametrize("role", ["admin", "editor", "operator", "viewer", "outsider"])
def test_no_org_role_reaches_the_admin(client, personas, role):
    user = personas[role]
    assert not user.is_staff and user.get_all_permissions() == set()
    client.force_login(user)
    for path in (reverse("admin:index"), url(Membership, "changelist"), url(Membership, "add")):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), path


def test_a_membership_change_in_the_admin_is_audited(su_client, superuser, acme, alice, mallory):
    membership = Membership.objects.get(user=alice)
    membership.role = "viewer"
    membership.save()
    data = {"user": alice.pk, "org": acme.pk, "role": "admin", "_save": "Save"}
    response = su_client.post(url(Membership, "change", membership.pk), data, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    event = AuditEvent.objects.get(target_type="membership", action="update")
    assert (event.actor, event.org, event.target_id) == (superuser, acme, str(membership.pk))
    assert (event.before, event.after) == ({"role": "viewer"}, {"role": "admin"})
    assert event.client_ip == "203.0.113.9" and event.request_id and event.schedule_id is None


def test_adding_someone_to_another_org_in_the_admin_is_audited(su_client, acme, mallory):
    data = {"user": mallory.pk, "org": acme.pk, "role": "admin", "_save": "Save"}
    assert su_client.post(url(Membership, "add"), data).status_code == 302
    event = AuditEvent.objects.get(target_type="membership", action="create")
    assert event.org == acme and event.after == {"user": "mallory", "org": "acme", "role": "admin"}


def test_deleting_a_membership_in_the_admin_is_audited(su_client, acme, alice):
    membership = Membership.objects.get(user=alice)
    assert su_client.post(url(Membership, "delete", membership.pk), {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.get(target_type="membership", action="delete")
    assert event.org == acme and event.before["user"] == "alice"


def test_agent_and_organization_changes_in_the_admin_are_audited(su_client, acme, agent):
    data = {"org": acme.pk, "slug": "echo", "name": "Echo", "description": "", "input_style": "chat", "_save": "Save"}  # enabled unticked
    assert su_client.post(url(Agent, "change", agent.pk), data).status_code == 302
    event = AuditEvent.objects.get(target_type="agent")
    assert (event.action, event.before, event.after) == ("update", {"enabled": True}, {"enabled": False})

    data = {"slug": "acme", "name": "Acme", "max_concurrent_runs": "3", "timezone": "UTC", "_save": "Save", **_empty_inlines()}
    response = su_client.post(url(Organization, "change", acme.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    event = AuditEvent.objects.get(target_type="organization")
    assert (event.before, event.after) == ({"max_concurrent_runs": 10}, {"max_concurrent_runs": 3})


def test_membership_rows_changed_inline_on_the_org_page_are_audited(su_client, acme, alice, mallory):
    membership = Membership.objects.get(user=alice)
    data = {
        "slug": "acme", "name": "Acme", "max_concurrent_runs": "10", "timezone": "UTC", "_save": "Save", **_empty_inlines(),
        "memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk, "memberships-0-org": acme.pk, "memberships-0-user": alice.pk,
        "memberships-0-role": "viewer",
        "memberships-1-org": acme.pk, "memberships-1-user": mallory.pk, "memberships-1-role": "admin",
    }
    response = su_client.post(url(Organization, "change", acme.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    events = {(e.action, e.after["user"] if e.action == "create" else e.after.get("role")) for e in
              AuditEvent.objects.filter(target_type="membership")}
    assert events == {("update", "viewer"), ("create", "mallory")}
    assert Membership.objects.get(user=mallory, org=acme).role == "admin"


def _empty_inlines() -> dict:
    return {
        f"{prefix}-{name}": value
        for prefix in ("memberships", "agents")
        for name, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"), ("MAX_NUM_FORMS", "1000"))
    }


def test_support_sets_an_agents_langgraph_assistant_and_input_style_in_the_admin(su_client, acme, agent):
    form = su_client.get(url(Agent, "change", agent.pk)).content.decode()
    assert 'name="assistant_id"' in form and 'name="input_style"' in form
    data = {"org": acme.pk, "slug": agent.slug, "name": agent.name, "description": "", "enabled": "on",
            "assistant_id": "sales_graph", "input_style": "fields"}  # fmt: skip
    assert su_client.post(url(Agent, "change", agent.pk), data).status_code == 302
    agent.refresh_from_db()
    assert (agent.assistant_id, agent.input_style) == ("sales_graph", "fields")

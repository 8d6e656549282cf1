"""Schedule services: each write validates, computes next_run_at and leaves one audit event."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from audit.services import Actor
from runs.models import ScheduleRun
from runs.reconcile import reconcile
from schedules import services
from schedules.models import Schedule
from tests.constants import UTC, T0
from tests.factories import make_agent, make_org, make_run, make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor(alice):
    return Actor(user=alice, request_id="req-1", client_ip="127.0.0.1")


def create(org, agent, actor, now=T0, **data):
    data.setdefault("name", "Report")
    data.setdefault("prompt", "Summarise sales")
    data["agent"] = agent
    return services.schedule_create(actor=actor, org=org, data=data, now=now)


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# --- create ------------------------------------------------------------------------------


def test_create_cron_computes_next_run_in_the_schedules_zone(acme, agent, actor):
    schedule = create(acme, agent, actor, schedule_type="cron", cron_expression="0 9 * * *", timezone="Asia/Shanghai")
    # 09:00 in Shanghai (UTC+8) is 01:00Z, the first one after T0 = 2026-12-01 00:00Z.
    assert schedule.next_run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert schedule.created_at == T0 and schedule.created_by == actor.user


def test_create_interval_counts_from_creation(acme, agent, actor):
    schedule = create(acme, agent, actor, schedule_type="interval", interval_seconds=3600)
    assert schedule.next_run_at == T0 + timedelta(hours=1)


def test_create_once_fires_at_run_at(acme, agent, actor):
    run_at = T0 + timedelta(days=2, hours=3)
    schedule = create(acme, agent, actor, schedule_type="once", run_at=run_at)
    assert schedule.next_run_at == run_at


def test_create_disabled_has_no_next_run(acme, agent, actor):
    schedule = create(acme, agent, actor, schedule_type="cron", cron_expression="0 9 * * *", enabled=False)
    assert schedule.next_run_at is None


def test_create_clears_timing_fields_of_other_types(acme, agent, actor):
    schedule = create(
        acme, agent, actor, schedule_type="interval", interval_seconds=600, cron_expression="0 9 * * *", run_at=T0
    )
    schedule.refresh_from_db()
    assert (schedule.cron_expression, schedule.run_at, schedule.interval_seconds) == ("", None, 600)


def test_create_writes_one_audit_event_with_the_after_state(acme, agent, actor):
    schedule = create(acme, agent, actor, schedule_type="cron", cron_expression="0 9 * * *")
    event = AuditEvent.objects.get()
    assert (event.action, event.target_type, event.target_id) == ("create", "schedule", str(schedule.pk))
    assert event.schedule_id == schedule.pk and event.org == acme
    assert (event.actor, event.actor_label, event.request_id, event.client_ip) == (
        actor.user,
        "alice",
        "req-1",
        "127.0.0.1",
    )
    assert event.before is None
    assert event.after["cron_expression"] == "0 9 * * *" and event.after["agent"] == "echo"
    assert event.created_at == T0


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"schedule_type": "once", "run_at": T0 - timedelta(minutes=1)}, "run_at", ["past"]),
        ({"schedule_type": "cron", "cron_expression": "0 25 * * *"}, "cron_expression", ["25"]),
        ({"schedule_type": "cron", "cron_expression": "every day"}, "cron_expression", []),
        ({"schedule_type": "cron", "cron_expression": ""}, "cron_expression", []),
        (
            {"schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": "Asia/Shangai"},
            "timezone",
            ["Asia/Shangai"],
        ),
        ({"schedule_type": "interval", "interval_seconds": 5}, "interval_seconds", ["60"]),
        ({"schedule_type": "interval", "interval_seconds": None}, "interval_seconds", []),
        ({"schedule_type": "once", "run_at": None}, "run_at", []),
        ({"schedule_type": "cron", "cron_expression": "0 9 * * *", "max_retries": 11}, "max_retries", ["10"]),
        ({"schedule_type": "cron", "cron_expression": "0 9 * * *", "prompt": "   "}, "prompt", ["empty"]),
        (
            {"schedule_type": "cron", "cron_expression": "0 9 * * *", "retry_backoff_seconds": ["soon"]},
            "retry_backoff_seconds",
            [],
        ),
    ],
    ids=[
        "once-in-past",
        "hour-out-of-range",
        "cron-not-an-expression",
        "cron-empty",
        "unknown-zone",
        "interval-too-short",
        "interval-missing",
        "once-without-time",
        "retries-out-of-range",
        "blank-prompt",
        "backoff-not-numbers",
    ],
)
def test_create_rejects_invalid_input_readably_and_stores_nothing(acme, agent, actor, data, field, words):
    with pytest.raises(ValidationError) as excinfo:
        create(acme, agent, actor, **data)
    errors = errors_of(excinfo)
    assert field in errors, errors
    message = " ".join(errors[field])
    assert len(message) > 10, message  # a sentence a person can act on, not a code
    for word in words:
        assert word in message, message
    assert not Schedule.objects.exists()
    assert not AuditEvent.objects.exists()


def test_create_rejects_a_disabled_agent(acme, actor):
    off = make_agent(acme, "retired", enabled=False)
    with pytest.raises(ValidationError) as excinfo:
        create(acme, off, actor, schedule_type="cron", cron_expression="0 9 * * *")
    assert "disabled" in " ".join(errors_of(excinfo)["agent"])
    assert not Schedule.objects.exists()


def test_create_allows_a_disabled_agent_on_a_disabled_schedule(acme, actor):
    off = make_agent(acme, "retired", enabled=False)
    schedule = create(acme, off, actor, schedule_type="cron", cron_expression="0 9 * * *", enabled=False)
    assert schedule.next_run_at is None


def test_create_rejects_an_agent_of_another_org(acme, globex, actor):
    foreign = make_agent(globex, "spy")
    with pytest.raises(ValidationError) as excinfo:
        create(acme, foreign, actor, schedule_type="cron", cron_expression="0 9 * * *")
    message = " ".join(errors_of(excinfo)["agent"])
    assert "spy" in message and "acme" in message
    assert not Schedule.objects.exists()


def test_create_rejects_system_owned_fields(acme, agent, actor):
    with pytest.raises(ValidationError) as excinfo:
        create(acme, agent, actor, schedule_type="cron", cron_expression="0 9 * * *", next_run_at=T0)
    assert "next_run_at" in errors_of(excinfo)
    assert not Schedule.objects.exists()


# --- update ------------------------------------------------------------------------------


@pytest.fixture
def nightly(acme, agent, actor):
    return make_schedule(acme, agent, actor=actor, cron_expression="0 9 * * *")


def test_update_of_timing_recomputes_next_run(nightly, actor):
    later = T0 + timedelta(hours=2)
    updated = services.schedule_update(
        actor=actor, schedule=nightly, data={"cron_expression": "30 6 * * *"}, now=later
    )
    assert updated.next_run_at == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    nightly.refresh_from_db()
    assert nightly.next_run_at == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    assert (nightly.updated_at, nightly.updated_by) == (later, actor.user)


def test_update_of_timezone_recomputes_next_run(nightly, actor):
    updated = services.schedule_update(actor=actor, schedule=nightly, data={"timezone": "Asia/Shanghai"}, now=T0)
    assert updated.next_run_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def test_update_of_a_non_timing_field_leaves_next_run_alone(nightly, actor):
    before = nightly.next_run_at
    # Even after the fire time has passed: the scheduler, not an edit, decides what is due.
    late = before + timedelta(hours=3)
    updated = services.schedule_update(actor=actor, schedule=nightly, data={"name": "Renamed"}, now=late)
    nightly.refresh_from_db()
    assert updated.next_run_at == before == nightly.next_run_at
    assert nightly.name == "Renamed"


def test_update_audits_only_changed_fields_before_and_after(nightly, actor):
    services.schedule_update(
        actor=actor, schedule=nightly, data={"name": "Renamed", "prompt": nightly.prompt}, now=T0
    )
    event = AuditEvent.objects.filter(action="update").get()
    assert event.before == {"name": "Nightly report"}
    assert event.after == {"name": "Renamed"}
    assert event.schedule_id == nightly.pk and event.actor == actor.user


def test_update_without_changes_writes_nothing(nightly, actor):
    services.schedule_update(actor=actor, schedule=nightly, data={"name": nightly.name}, now=T0 + timedelta(hours=1))
    nightly.refresh_from_db()
    assert nightly.updated_at == T0
    assert not AuditEvent.objects.filter(action="update").exists()


def test_update_switching_type_clears_the_old_timing(nightly, actor):
    updated = services.schedule_update(
        actor=actor, schedule=nightly, data={"schedule_type": "interval", "interval_seconds": 900}, now=T0
    )
    nightly.refresh_from_db()
    assert (nightly.schedule_type, nightly.cron_expression, nightly.interval_seconds) == ("interval", "", 900)
    assert updated.next_run_at == nightly.next_run_at is not None


def test_invalid_update_stores_nothing(nightly, actor):
    with pytest.raises(ValidationError) as excinfo:
        services.schedule_update(actor=actor, schedule=nightly, data={"cron_expression": "61 * * * *"}, now=T0)
    assert "cron_expression" in errors_of(excinfo)
    nightly.refresh_from_db()
    assert nightly.cron_expression == "0 9 * * *"
    assert not AuditEvent.objects.filter(action="update").exists()


def test_update_rejects_an_agent_of_another_org(nightly, actor, globex):
    with pytest.raises(ValidationError) as excinfo:
        services.schedule_update(actor=actor, schedule=nightly, data={"agent": make_agent(globex, "spy")}, now=T0)
    assert "agent" in errors_of(excinfo)
    nightly.refresh_from_db()
    assert nightly.agent.slug == "echo"


def test_update_rejects_moving_to_a_past_once(nightly, actor):
    with pytest.raises(ValidationError) as excinfo:
        services.schedule_update(
            actor=actor, schedule=nightly, data={"schedule_type": "once", "run_at": T0 - timedelta(days=1)}, now=T0
        )
    assert "run_at" in errors_of(excinfo)


def test_finished_once_schedule_can_still_be_renamed(acme, agent, actor):
    run_at = T0 + timedelta(hours=1)
    once = create(acme, agent, actor, schedule_type="once", run_at=run_at)
    # Long after it fired, its run_at lies in the past; that must not block other edits.
    updated = services.schedule_update(
        actor=actor, schedule=once, data={"name": "Launch recap"}, now=T0 + timedelta(days=30)
    )
    assert updated.name == "Launch recap" and updated.run_at == run_at


# --- enable / disable ---------------------------------------------------------------------


def test_disable_clears_next_run_and_audits(nightly, actor):
    services.schedule_disable(actor=actor, schedule=nightly, now=T0)
    nightly.refresh_from_db()
    assert (nightly.enabled, nightly.next_run_at) == (False, None)
    event = AuditEvent.objects.get(action="disable")
    assert (event.before, event.after) == ({"enabled": True}, {"enabled": False})


def test_disable_cancels_waiting_runs_but_not_running_or_leased_ones(nightly, actor):
    waiting = make_run(nightly, at=T0, trigger_type="retry", attempt=2)
    leased = make_run(nightly, at=T0 + timedelta(days=1), now=T0)
    running = make_run(nightly, at=T0 + timedelta(days=2), now=T0)
    ScheduleRun.objects.filter(pk=leased.pk).update(lease_owner="replica-a", lease_expires_at=T0 + timedelta(minutes=1))
    ScheduleRun.objects.filter(pk=running.pk).update(status="running", started_at=T0)

    services.schedule_disable(actor=actor, schedule=nightly, now=T0 + timedelta(seconds=5))
    # The runs app cancels them, in the scheduler's next pass (which the disable wakes).
    reconcile(now=T0 + timedelta(seconds=5), replica_id="test")

    statuses = dict(ScheduleRun.objects.values_list("pk", "status"))
    assert statuses == {waiting.pk: "canceled", leased.pk: "queued", running.pk: "running"}
    waiting.refresh_from_db()
    assert waiting.error_code == "schedule_disabled"
    assert waiting.finished_at == T0 + timedelta(seconds=5)
    event = AuditEvent.objects.get(action="disable")
    assert event.after == {"enabled": False}


def test_enable_starts_from_now_without_catching_up(nightly, actor):
    services.schedule_disable(actor=actor, schedule=nightly, now=T0)
    three_days_later = T0 + timedelta(days=3, hours=10)
    services.schedule_enable(actor=actor, schedule=nightly, now=three_days_later)
    nightly.refresh_from_db()
    assert nightly.enabled is True
    assert nightly.next_run_at == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    event = AuditEvent.objects.get(action="enable")
    assert (event.before, event.after, event.created_at) == ({"enabled": False}, {"enabled": True}, three_days_later)


def test_enable_of_an_enabled_schedule_is_a_no_op(nightly, actor):
    services.schedule_enable(actor=actor, schedule=nightly, now=T0 + timedelta(hours=1))
    assert not AuditEvent.objects.filter(action="enable").exists()


def test_enable_refuses_a_disabled_agent(nightly, actor, agent):
    services.schedule_disable(actor=actor, schedule=nightly, now=T0)
    agent.enabled = False
    agent.save()
    with pytest.raises(ValidationError) as excinfo:
        services.schedule_enable(actor=actor, schedule=nightly, now=T0)
    assert "disabled" in " ".join(errors_of(excinfo)["agent"])
    nightly.refresh_from_db()
    assert (nightly.enabled, nightly.next_run_at) == (False, None)
    assert not AuditEvent.objects.filter(action="enable").exists()


def test_update_enabled_field_recomputes_next_run(nightly, actor):
    services.schedule_update(actor=actor, schedule=nightly, data={"enabled": False}, now=T0)
    nightly.refresh_from_db()
    assert nightly.next_run_at is None
    services.schedule_update(actor=actor, schedule=nightly, data={"enabled": True}, now=T0 + timedelta(days=1))
    nightly.refresh_from_db()
    assert nightly.next_run_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


# --- delete ------------------------------------------------------------------------------


def test_delete_removes_the_row_and_keeps_an_audit_trail(nightly, actor):
    schedule_id = nightly.pk
    services.schedule_delete(actor=actor, schedule=nightly, now=T0 + timedelta(hours=1))
    assert not Schedule.objects.filter(pk=schedule_id).exists()
    event = AuditEvent.objects.get(action="delete")
    assert event.schedule_id == schedule_id and event.target_id == str(schedule_id)
    assert event.before["name"] == "Nightly report" and event.after is None
    # The create event survives the schedule: the trail is not a foreign key.
    assert AuditEvent.objects.filter(schedule_id=schedule_id).count() == 2


def test_each_mutation_writes_exactly_one_audit_event(acme, agent, actor):
    schedule = create(acme, agent, actor, schedule_type="cron", cron_expression="0 9 * * *")
    services.schedule_update(actor=actor, schedule=schedule, data={"name": "B"}, now=T0)
    services.schedule_disable(actor=actor, schedule=schedule, now=T0)
    services.schedule_enable(actor=actor, schedule=schedule, now=T0)
    services.schedule_delete(actor=actor, schedule=schedule, now=T0)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["create", "update", "disable", "enable", "delete"]


def test_agent_for_org_names_the_unknown_agent(acme):
    with pytest.raises(ValidationError) as excinfo:
        services.agent_for_org(acme, "nope")
    assert "nope" in " ".join(errors_of(excinfo)["agent"])
    # The same slug in another org does not leak across.
    make_agent(make_org("other"), "nope")
    with pytest.raises(ValidationError):
        services.agent_for_org(acme, "nope")

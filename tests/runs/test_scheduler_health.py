"""The stall check: `check_scheduler_health`'s exit codes and JSON line, the stalled alerts it
opens and resolves, the live replicas' periodic check, and the pages' banner query."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from config.clock import FakeClock
from config import clock as clock_module
from runs.alerts.stall import late_banner
from runs.models import Alert, AlertCause, AlertEvent, AlertState
from tests.constants import NINE
from tests.factories import make_heartbeat, make_org, make_agent, make_schedule

pytestmark = pytest.mark.django_db
STALL = 120


@pytest.fixture(autouse=True)
def stall_seconds(settings):
    settings.SCHEDULER_STALL_SECONDS = STALL


def check(at, *args):
    out = StringIO()
    with clock_module.use(FakeClock(at)), pytest.raises(SystemExit) as exited:
        call_command("check_scheduler_health", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return exited.value.code, json.loads(lines[0])


@pytest.fixture
def due_at_nine(acme, agent):
    # Created at 08:00, fires daily at 09:00: overdue from 09:02 when nothing fires it.
    return make_schedule(acme, agent, cron_expression="0 9 * * *", now=NINE - timedelta(hours=1))


def stalled_alerts(org):
    return list(Alert.objects.filter(org=org, cause=AlertCause.SCHEDULER_STALLED).order_by("opened_at"))


def test_healthy_when_a_replica_beats_and_nothing_is_overdue(due_at_nine):
    make_heartbeat("r1", at=NINE)
    code, out = check(NINE + timedelta(seconds=30))
    assert code == 0 and out["status"] == "healthy" and out["replicas_fresh"] == ["r1"]


def test_stalled_when_no_heartbeat_while_a_schedule_is_overdue_and_alerts_once(acme, due_at_nine):
    make_heartbeat("r1", at=NINE - timedelta(minutes=1))
    late = NINE + timedelta(minutes=4)
    code, out = check(late)
    assert code == 1 and out["status"] == "stalled"
    assert out["overdue_schedules"] == 1 and out["last_beat_age_seconds"] == 300 and out["alerts_opened"] == 1
    (alert,) = stalled_alerts(acme)
    assert alert.state == AlertState.OPEN and "the scheduler last ran 5 min ago" in alert.detail
    code, out = check(late + timedelta(minutes=1))
    assert code == 1 and out["alerts_opened"] == 0 and stalled_alerts(acme) == [alert]


def test_a_fresh_heartbeat_with_nothing_overdue_resolves_it_and_a_new_stall_reopens(acme, due_at_nine):
    make_heartbeat("r1", at=NINE - timedelta(minutes=1))
    check(NINE + timedelta(minutes=4))
    # The scheduler comes back and fires the late occurrence.
    back = NINE + timedelta(minutes=6)
    due_at_nine.next_run_at = NINE + timedelta(days=1)
    due_at_nine.save(update_fields=["next_run_at"])
    make_heartbeat("r2", at=back)
    code, out = check(back)
    assert out["alerts_resolved"] == 1 and code == 2  # r1 is gone silent: degraded, not stalled
    (first,) = stalled_alerts(acme)
    assert first.state == AlertState.RESOLVED
    assert [e.kind for e in AlertEvent.objects.filter(alert=first)] == ["opened", "resolved"]
    code, _ = check(NINE + timedelta(days=1, minutes=5))
    assert code == 1
    assert [a.state for a in stalled_alerts(acme)] == [AlertState.RESOLVED, AlertState.OPEN]


@pytest.mark.parametrize(
    "beats, overdue, reason",
    [
        ({"r1": 0, "r2": -600}, False, "replica(s) stopped beating: r2"),
        ({"r1": 0}, True, "the scheduler beats but 1 schedule(s) are overdue"),
        ({}, False, "no scheduler heartbeat, but no schedule is overdue yet"),
    ],
)
def test_degraded_cases_exit_2(acme, agent, beats, overdue, reason):
    now = NINE + timedelta(minutes=10)
    for replica, offset in beats.items():
        make_heartbeat(replica, at=now + timedelta(seconds=offset))
    make_schedule(acme, agent, cron_expression="0 9 * * *" if overdue else "0 12 * * *", now=NINE - timedelta(hours=1))
    code, out = check(now, "--no-alerts")
    assert (code, out["status"], out["reason"]) == (2, "degraded", reason)
    assert "alerts_opened" not in out


# transaction=True: each pass calls close_old_connections() (see tests/runs/test_scheduler.py).
@pytest.mark.django_db(transaction=True)
def test_a_live_replica_checks_the_others_on_its_own_timer(acme, due_at_nine, scheduler_at, settings):
    """A replica that beats resolves the stalled alert left by an outage, within one check period."""
    settings.SCHEDULER_ALERT_CHECK_SECONDS = 15
    make_heartbeat("old", at=NINE - timedelta(minutes=1))
    check(NINE + timedelta(minutes=4))
    assert stalled_alerts(acme)[0].state == AlertState.OPEN
    start = NINE + timedelta(minutes=5)
    scheduler = scheduler_at(start)
    first = scheduler.run_once(start)  # fires the late occurrence, beats, then checks
    assert "alerts" in first.steps
    assert stalled_alerts(acme)[0].state == AlertState.RESOLVED
    assert "alerts" not in scheduler.run_once(start + timedelta(seconds=14)).steps
    assert "alerts" in scheduler.run_once(start + timedelta(seconds=15)).steps


def test_the_banner_shows_for_an_org_with_late_schedules_when_no_scheduler_beats(acme, due_at_nine):
    globex = make_org("globex")
    make_schedule(globex, make_agent(globex), cron_expression="0 12 * * *", now=NINE - timedelta(hours=1))
    make_heartbeat("r1", at=NINE - timedelta(minutes=1))
    late = NINE + timedelta(minutes=3)
    assert late_banner(acme, now=late) == {"last_beat_at": NINE - timedelta(minutes=1), "minutes": 4}
    assert late_banner(globex, now=late) is None, "an org with nothing late sees no banner"
    make_heartbeat("r2", at=late)
    assert late_banner(acme, now=late) is None, "a beating scheduler is behind, not stalled"


@pytest.mark.django_db(transaction=True)
def test_the_alerts_step_costs_the_same_queries_whatever_the_number_of_schedules(acme, agent, scheduler_at):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import clone_schedules

    template = make_schedule(acme, agent, cron_expression="0 12 * * *", now=NINE - timedelta(hours=1))
    costs = []
    for extra in (0, 200):
        clone_schedules(template, extra)
        scheduler = scheduler_at(NINE, replica_id=f"r-{extra}")
        with CaptureQueriesContext(connection) as ctx:
            scheduler.check_alerts(NINE)
        costs.append(len(ctx.captured_queries))
    assert costs[0] == costs[1]


def test_the_command_delivers_the_stalled_alert_itself(acme, due_at_nine, settings):
    """No scheduler runs to work off the outbox: the probe sends what it opened."""
    from audit.services import Actor
    from runs.alerts.channels import channel_create
    from tests.webhook_server import WebhookServer

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    receiver = WebhookServer()
    try:
        channel_create(actor=Actor.system(), org=acme, data={"kind": "webhook", "name": "Hook", "target": receiver.url}, now=NINE)
        make_heartbeat("r1", at=NINE - timedelta(minutes=1))
        code, out = check(NINE + timedelta(minutes=4))
        assert code == 1 and out["deliveries_attempted"] == 1
        body = json.loads(receiver.received[0].body)
        assert (body["cause"], body["event"]) == ("scheduler_stalled", "opened")
        assert body["detail"].startswith("Schedules are late: the scheduler last ran 5 min ago")
    finally:
        receiver.close()


def test_each_org_reads_only_its_own_overdue_count_and_no_replica_name(acme, agent, due_at_nine):
    """The platform's count and its replicas' names are the operators' (issue 19, item 8)."""
    other = make_org("globex")
    other_agent = make_agent(other)
    for name in ("a", "b", "c"):
        make_schedule(other, other_agent, name=name, cron_expression="0 9 * * *", now=NINE - timedelta(hours=1))
    make_heartbeat("web-7f9c-1234", at=NINE - timedelta(minutes=1))
    check(NINE + timedelta(minutes=4))
    (mine,) = stalled_alerts(acme)
    (theirs,) = stalled_alerts(other)
    assert "(1 schedule(s) overdue)" in mine.detail
    assert "(3 schedule(s) overdue)" in theirs.detail

    Schedule_ = type(due_at_nine)
    Schedule_.objects.update(next_run_at=NINE + timedelta(days=1))
    make_heartbeat("sched-host-4242", at=NINE + timedelta(minutes=6))
    check(NINE + timedelta(minutes=6))
    resolved = AlertEvent.objects.get(alert=stalled_alerts(acme)[0], kind="resolved")
    assert resolved.detail == "The scheduler is running again; nothing is overdue."
    assert "sched-host-4242" not in resolved.detail


@pytest.mark.parametrize(
    "stopped_cleanly, code, stale",
    [(True, 0, []), (False, 2, ["r1"])],
    ids=["stopped-cleanly-is-retired", "vanished-is-stale"],
)
def test_only_a_replica_that_vanished_counts_as_stale(acme, agent, stopped_cleanly, code, stale):
    # r1 last beat ten minutes ago; r2 (its replacement) beats now.
    now = NINE + timedelta(minutes=10)
    gone = now - timedelta(minutes=10)
    make_heartbeat("r1", at=gone, stopped_at=gone if stopped_cleanly else None)
    make_heartbeat("r2", at=now)
    make_schedule(acme, agent, cron_expression="0 12 * * *", now=NINE - timedelta(hours=1))
    exit_code, out = check(now)
    assert (exit_code, out["replicas_fresh"], out["replicas_stale"]) == (code, ["r2"], stale)
    assert stalled_alerts(acme) == []


def test_every_replica_stopped_cleanly_with_schedules_overdue_is_still_stalled(acme, due_at_nine):
    # Scaled to zero on purpose or not: nothing fires, so the late schedules alert.
    make_heartbeat("r1", at=NINE - timedelta(minutes=1), stopped_at=NINE - timedelta(minutes=1))
    code, out = check(NINE + timedelta(minutes=4))
    assert (code, out["last_beat_age_seconds"], out["alerts_opened"]) == (1, 300, 1)
    assert "the scheduler last ran 5 min ago" in stalled_alerts(acme)[0].detail

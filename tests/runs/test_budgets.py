"""Usage and monthly budgets: totals per month, skipped occurrences, one alert, 409 on run-now."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.alerts.models import Alert, AlertCause
from runs.firing import fire_due
from runs.models import RunErrorCode, RunStatus, ScheduleRun
from runs.why import Outcome, schedule_occurrence_report
from schedules.budgets import month_of
from schedules.models import UsageMonth
from tests.constants import NINE, UTC
from tests.factories import make_run, make_schedule
from tests.plane_server import sign
from tests.runs.conftest import PLANE_SECRET, inline_dispatcher, reload

pytestmark = pytest.mark.django_db

CALLBACK = "/api/v1/runs/callback/"


def finish_with_usage(client, schedule, usage, at=NINE):
    run = make_run(schedule, at=at)
    inline_dispatcher().dispatch_ready(now=at)
    run = reload(run)
    raw = json.dumps({"job_run_id": run.job_run_id, "session_id": run.session_id, "status": "success", "usage": usage}).encode()
    answer = client.post(CALLBACK, data=raw, content_type="application/json", HTTP_X_SIGNATURE=sign(PLANE_SECRET, raw))
    assert answer.status_code == 200, answer.content
    return reload(run)


def test_usage_is_stored_on_the_run_and_added_to_the_months_of_schedule_and_org(client, acme, agent, plane, fake_clock, alice):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent)
    run = finish_with_usage(client, schedule, {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0042})
    assert (run.input_tokens, run.output_tokens, run.total_tokens, run.cost_usd) == (1200, 300, 1500, Decimal("0.004200"))
    finish_with_usage(client, schedule, {"total_tokens": 500}, at=NINE + timedelta(hours=1))
    rows = {row.schedule_id: row for row in UsageMonth.objects.all()}
    assert rows[schedule.pk].total_tokens == rows[None].total_tokens == 2000
    client.force_login(alice)
    shown = client.get(f"/api/v1/runs/{run.pk}/").json()
    assert shown["usage"] == {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500, "cost_usd": 0.0042}


def test_bad_usage_is_a_400_that_changes_nothing(client, acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    run = make_run(make_schedule(acme, agent), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    raw = json.dumps({"job_run_id": run.job_run_id, "status": "success", "usage": {"input_tokens": -3}}).encode()
    answer = client.post(CALLBACK, data=raw, content_type="application/json", HTTP_X_SIGNATURE=sign(PLANE_SECRET, raw))
    assert answer.status_code == 400 and "usage.input_tokens" in json.dumps(answer.json())
    assert reload(run).status == RunStatus.RUNNING


def test_a_schedules_month_is_its_own_zones_calendar_month():
    # 2026-11-30 20:00 UTC is already December in Shanghai.
    month, end = month_of(datetime(2026, 11, 30, 20, tzinfo=UTC), "Asia/Shanghai")
    assert month.isoformat() == "2026-12-01" and end == datetime(2026, 12, 31, 16, tzinfo=UTC)


def test_a_spent_budget_skips_new_occurrences_alerts_once_and_refuses_run_now(client, acme, agent, plane, fake_clock, alice):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent, cron_expression="0 * * * *", monthly_token_budget=1000)
    finish_with_usage(client, schedule, {"total_tokens": 800})
    assert not Alert.objects.filter(cause=AlertCause.BUDGET_EXCEEDED).exists()
    finish_with_usage(client, schedule, {"total_tokens": 300}, at=NINE + timedelta(minutes=5))
    finish_with_usage(client, schedule, {"total_tokens": 50}, at=NINE + timedelta(minutes=6))  # in flight: overruns
    alerts = Alert.objects.filter(cause=AlertCause.BUDGET_EXCEEDED, schedule=schedule)
    assert alerts.count() == 1 and "1,100 tokens" in alerts.get().detail

    schedule.refresh_from_db()
    fire_due(now=schedule.next_run_at, batch_size=50)
    skipped = ScheduleRun.objects.get(schedule=schedule, scheduled_for=schedule.next_run_at)
    assert (skipped.status, skipped.error_code) == (RunStatus.SKIPPED, RunErrorCode.BUDGET_EXCEEDED)
    assert skipped.error_message.startswith("the schedule's monthly budget is spent (1,150 tokens used in 2026-12)")
    at = skipped.scheduled_for
    report = schedule_occurrence_report(schedule=schedule, start=at, end=at + timedelta(seconds=1), now=at + timedelta(minutes=1))
    assert report.occurrences[-1].outcome == Outcome.SKIPPED_BUDGET and report.budget_skipped == 1

    client.force_login(alice)
    answer = client.post(f"/api/v1/schedules/{schedule.pk}/run-now/")
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith("This schedule's monthly budget is spent (1,150 tokens, $0.00 in 2026-12).")

    # Raising the budget lets it run again at once.
    changed = client.patch(f"/api/v1/schedules/{schedule.pk}/", {"monthly_token_budget": 5000}, content_type="application/json")
    assert changed.status_code == 200
    assert client.post(f"/api/v1/schedules/{schedule.pk}/run-now/").status_code == 202


def test_an_org_budget_in_the_orgs_zone_stops_all_its_schedules(client, acme, agent, plane, fake_clock):
    acme.timezone, acme.monthly_cost_budget_usd = "Asia/Shanghai", Decimal("1.00")
    acme.save()
    fake_clock.set(NINE)
    first, second = make_schedule(acme, agent, name="first"), make_schedule(acme, agent, name="second")
    finish_with_usage(client, first, {"total_tokens": 10, "cost_usd": 1.25})
    row = UsageMonth.objects.get(schedule=None)
    assert row.month.isoformat() == "2026-12-01" and row.exceeded_at is not None
    second.refresh_from_db()
    fire_due(now=second.next_run_at, batch_size=50)
    run = ScheduleRun.objects.get(schedule=second, scheduled_for=second.next_run_at)
    assert run.error_code == RunErrorCode.BUDGET_EXCEEDED and "org's monthly budget" in run.error_message
    assert Alert.objects.get(cause=AlertCause.BUDGET_EXCEEDED, schedule=None).org == acme


def test_a_firing_pass_reads_the_budgets_once_whatever_the_number_of_batches(acme, agent):
    for n in range(6):
        make_schedule(acme, agent, name=f"s{n}", cron_expression="0 9 * * *")
    due = datetime(2026, 12, 1, 9, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        result = fire_due(now=due, batch_size=2)
    assert result.queued == 6 and result.batches == 4
    assert sum("schedules_usagemonth" in q["sql"] for q in queries.captured_queries) == 1


def test_per_run_caps_go_to_the_plane_in_metadata(acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent, max_tokens=200_000, max_cost_usd=Decimal("2.50"))
    make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    metadata = json.loads(plane.requests[-1]["body"])["metadata"]
    assert (metadata["max_tokens"], metadata["max_cost_usd"]) == (200_000, 2.5)

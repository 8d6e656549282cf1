"""Usage in the metrics: the summary's window totals and Prometheus' running counters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runs.metrics.summary import runs_summary, summary_runs_for
from runs.models import ScheduleRun
from schedules.budgets import Usage, add_usage
from tests.runs.metrics_data import NOW, populate

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(acme, agent, globex):
    nightly, hourly, other = populate(acme, agent, globex)
    # Three of acme's runs in the 24 hours reported usage; one older run did too (25 hours ago).
    runs = ScheduleRun.objects.filter(schedule=nightly).order_by("-scheduled_for")
    for run, tokens in zip(runs, (1000, 500, 250, 9999)):
        ScheduleRun.objects.filter(pk=run.pk).update(
            input_tokens=tokens - 100, output_tokens=100, total_tokens=tokens, cost_usd=Decimal("0.01")
        )
    return nightly, hourly, other


def test_the_summary_sums_the_windows_usage(alice, data):
    usage = runs_summary(runs=summary_runs_for(alice), window="24h", now=NOW).usage
    assert usage == {"input_tokens": 1450, "output_tokens": 300, "total_tokens": 1750, "cost_usd": 0.03}


def test_the_summary_api_answers_the_usage(client, alice, data, fake_clock):
    fake_clock.set(NOW)
    client.force_login(alice)
    answer = client.get("/api/v1/metrics/summary/?window=7d").json()
    assert answer["usage"]["total_tokens"] == 1000 + 500 + 250 + 9999


def test_prometheus_exports_tokens_by_kind_and_cost_per_org(client, settings, acme, globex, agent, fake_clock):
    from tests.factories import make_schedule

    settings.METRICS_TOKEN = "t"
    fake_clock.set(NOW)
    schedule = make_schedule(acme, agent)
    for month_later in (0, 40):  # two months: counters add every month up
        add_usage(
            schedule=schedule, org=acme, now=NOW + timedelta(days=month_later),
            usage=Usage(input_tokens=900, output_tokens=100, total_tokens=1000, cost_usd=Decimal("0.25")),
        )
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    tokens = {(s.labels["org"], s.labels["kind"]): s.value for s in families["agent_schedules_tokens"].samples}
    assert tokens == {("acme", "input"): 1800, ("acme", "output"): 200, ("acme", "total"): 2000}
    cost = {s.labels["org"]: s.value for s in families["agent_schedules_cost_usd"].samples}
    assert cost == {"acme": 0.5}
    assert "agent_schedules_tokens_total{" in text and "agent_schedules_cost_usd_total{" in text

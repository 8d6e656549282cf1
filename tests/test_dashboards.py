"""The operators' dashboard and alerting rules under deploy/ (docs/operations.md, "Dashboards
and alerting rules"): every metric and label they name is one the project exports, read from
its own collectors (runs/metrics/prometheus.py); every expression is valid PromQL (Rust's
promql-parser); and, where Debian's prometheus package provides promtool, the rules pass
`promtool check rules` and their unit tests (`promtool test rules`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from runs.alerts.services import alert_raise
from runs.metrics.prometheus import exposition
from runs.models import RunStatus
from schedules.budgets import Usage, add_usage
from tests.factories import make_heartbeat, make_run
from tests.runs.metrics_data import NOW, populate

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "agent-schedules-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "agent-schedules-rules.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "agent-schedules.json"


# Grafana's built-in variables, replaced by a duration so the expression parses as PromQL.
GRAFANA_DURATIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


@pytest.fixture
def exported(acme, agent, globex, fake_clock) -> dict[str, set[str]]:
    """Sample name -> label names, as a scrape of the project's /metrics shows them, with data
    behind every family (runs, schedules, a heartbeat, an open alert)."""
    fake_clock.set(NOW)
    nightly, hourly, _ = populate(acme, agent, globex)
    make_run(nightly, at=NOW)  # queued
    make_run(hourly, at=NOW, status=RunStatus.RUNNING)
    make_heartbeat("sched-1", at=NOW - timedelta(seconds=5))
    alert_raise(org_id=acme.pk, cause="scheduler_stalled", detail="late", now=NOW)
    add_usage(schedule=nightly, org=acme, now=NOW, usage=Usage(input_tokens=9, output_tokens=1, total_tokens=10))
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition(now=NOW).decode()):
        assert family.samples, f"{family.name} has no sample: give it data above"
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(set(sample.labels) - {"le"})
    return names


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    board = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of each series selector in `expr`."""
    for variable, duration in GRAFANA_DURATIONS.items():
        expr = expr.replace(variable, duration)
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers}
            name = node.name or next(m.value for m in node.matchers.matchers if m.name == "__name__")
            found.append((name, labels - {"__name__"}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def every_query() -> list[tuple[str, str]]:
    return [(f"rule {rule['alert']}", rule["expr"]) for rule in rules()] + [
        (f"panel {title!r}", expr) for title, expr in dashboard_queries()
    ]


def test_every_metric_and_label_they_name_is_one_the_project_exports(exported):
    allowed = exported
    for where, expr in every_query():
        named = selectors(expr)
        assert named, f"{where} names no metric: {expr}"
        for metric, labels in named:
            assert metric in allowed, f"{where}: {metric} is not exported by /metrics"
            assert labels <= allowed[metric], f"{where}: {metric} has no label {labels - allowed[metric]}"
    board = json.loads(DASHBOARD.read_text())
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            metric, label = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["definition"]).groups()
            assert label in allowed[metric], variable["name"]


def test_the_rules_cover_what_an_operator_must_hear_about():
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    assert "agent_schedules_scheduler_last_heartbeat_age_seconds" in exprs["AgentSchedulesSchedulerStalled"]
    assert "agent_schedules_runs_total" in exprs["AgentSchedulesRunFailureRate"]
    assert "agent_schedules_oldest_due_lag_seconds" in exprs["AgentSchedulesOldestDueLag"]
    assert "agent_schedules_cost_usd_total" in exprs["AgentSchedulesCostBurn"]
    assert "agent_schedules_tokens_total" in exprs["AgentSchedulesTokenBurn"]
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_dashboard_is_one_grafana_imports():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "agent-schedules" and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            # The data source is the dashboard's variable: it works whatever the Prometheus is named.
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "org"}


promtool = shutil.which("promtool")


@pytest.mark.skipif(
    promtool is None, reason="promtool is not installed (Debian's prometheus package, ~100 MB: not installed by make test)"
)
def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

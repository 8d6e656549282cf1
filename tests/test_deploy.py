"""The example deployment under deploy/ (docs/deploy.md): Kubernetes manifests checked against
the API schemas (kubernetes-validate, offline) and systemd units against `systemd-analyze
verify`, plus what each must say for the project to run right."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
SYSTEMD = ROOT / "deploy" / "systemd"
# The oldest Kubernetes minor still widely run; the manifests use nothing newer.
KUBERNETES_VERSION = "1.29"


def manifests() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def container(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("key", sorted(manifests()), ids=lambda key: f"{key[0]}/{key[1]}")
def test_each_manifest_is_valid_for_the_kubernetes_api(key):
    # strict: a misspelt or misplaced field is an error, not silently dropped by the API server.
    kubernetes_validate.validate(manifests()[key], KUBERNETES_VERSION, strict=True)


def test_the_manifests_hold_the_deployment_docs_deploy_md_describes():
    found = manifests()
    assert set(found) == {
        ("ConfigMap", "agent-schedules"),
        ("Deployment", "agent-schedules-web"),
        ("Service", "agent-schedules-web"),
        ("Deployment", "agent-schedules-scheduler"),
        ("Job", "agent-schedules-migrate"),
        ("CronJob", "agent-schedules-scheduler-health"),
    }
    web = container(found[("Deployment", "agent-schedules-web")])
    assert web["command"] == ["gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Django refuses a Host outside ALLOWED_HOSTS: the probes must send one it accepts.
    allowed = found[("ConfigMap", "agent-schedules")]["data"]["ALLOWED_HOSTS"].split(",")
    for probe in ("readinessProbe", "livenessProbe"):
        assert {"name": "Host", "value": allowed[0]} in web[probe]["httpGet"]["httpHeaders"]
    service = found[("Service", "agent-schedules-web")]
    assert service["spec"]["selector"] == found[("Deployment", "agent-schedules-web")]["spec"]["selector"]["matchLabels"]

    scheduler_deployment = found[("Deployment", "agent-schedules-scheduler")]
    assert scheduler_deployment["spec"]["replicas"] == 2
    scheduler = container(scheduler_deployment)
    assert scheduler["command"][:3] == ["python", "manage.py", "run_scheduler"]
    probe = " ".join(scheduler["livenessProbe"]["exec"]["command"])
    assert "manage.py check_scheduler_health" in probe
    # Time to finish the plane calls in flight on SIGTERM: a lease plus a plane timeout.
    assert scheduler_deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60 + 10

    job = container(found[("Job", "agent-schedules-migrate")])
    assert "manage.py migrate --no-input" in " ".join(job["command"])
    # Alerts about a stalled scheduler are opened and sent from outside the schedulers.
    cron = found[("CronJob", "agent-schedules-scheduler-health")]["spec"]
    check = " ".join(cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "manage.py check_scheduler_health" in check and "--no-alerts" not in check


def health_commands() -> list[list[str]]:
    found = manifests()
    probe = container(found[("Deployment", "agent-schedules-scheduler")])["livenessProbe"]["exec"]["command"]
    cron = found[("CronJob", "agent-schedules-scheduler-health")]["spec"]["jobTemplate"]["spec"]["template"]
    return [probe, cron["spec"]["containers"][0]["command"]]


@pytest.mark.parametrize("command", health_commands(), ids=["liveness", "cronjob"])
@pytest.mark.parametrize("exit_code, fails", [(0, False), (1, True), (2, False)])
def test_the_scheduler_health_checks_fail_only_on_a_stalled_scheduler(tmp_path, command, exit_code, fails):
    # The shell around check_scheduler_health, run with a stand-in for python that exits as
    # the command does: 0 healthy, 1 stalled, 2 degraded (degraded must not restart a replica).
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho '{{}}'\nexit {exit_code}\n")
    fake.chmod(0o755)
    result = subprocess.run(command, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True, text=True)
    assert (result.returncode != 0) == fails, result


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (no systemd here)")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    # The units name the install folder /opt/agent-schedules; verify checks that each command
    # exists, so they are checked as installed in this checkout.
    for unit in SYSTEMD.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/agent-schedules", str(ROOT)))
    units = sorted(str(path) for path in tmp_path.glob("*.service"))
    assert len(units) == 3
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    # verify exits 0 on some mistakes (an unknown Type= is "ignored"): any message is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_systemd_units_start_in_order_and_stop_gracefully():
    web = (SYSTEMD / "agent-schedules-web.service").read_text()
    scheduler = (SYSTEMD / "agent-schedules-scheduler.service").read_text()
    for unit in (web, scheduler):
        assert "Requires=agent-schedules-migrate.service" in unit
        # SIGTERM to the main process only: gunicorn's workers and the scheduler's local agents
        # are stopped by their parent, not all at once by systemd.
        assert "KillMode=mixed" in unit
    stop_seconds = int(scheduler.split("TimeoutStopSec=")[1].split()[0])
    assert stop_seconds >= 60 + 10


def test_the_readme_leads_to_the_deployment_guide():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / "deploy.md").is_file()

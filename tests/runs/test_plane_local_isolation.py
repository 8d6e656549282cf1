"""A local agent against the real scheduler process: what it can read of the scheduler.

`manage.py run_scheduler --once` runs as an ordinary user (as it should in production) with
secrets in its environment and a `db.sqlite3` in its working directory; the agent it starts
tries `/proc/$PPID/environ` and the paths around its own working directory. Root could read
any process's `/proc` files whatever the scheduler does, so as root the scheduler is started
as `nobody`, with this interpreter's packages.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.db import connection

from runs.models import RunStatus
from tests.factories import make_agent, make_run, make_schedule
from tests.runs.conftest import reload

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
MARK = "snoop-marker"

SNOOP = """
import json, os, sys
sys.stdin.read()
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return type(exc).__name__
paths = ("db.sqlite3", "../db.sqlite3", ".env")
print(json.dumps({"environ": read(f"/proc/{os.getppid()}/environ"), "files": {p: read(p) for p in paths}}))
"""


def _boot(site_dir: str) -> str:
    """Python source that makes this checkout and its packages importable, then runs manage.py."""
    return (
        f"import runpy, site, sys; site.addsitedir({site_dir!r}); sys.path.insert(0, {str(ROOT)!r}); "
        f"sys.argv = ['manage.py', *sys.argv[1:]]; runpy.run_path({str(ROOT / 'manage.py')!r}, run_name='__main__')"
    )


@pytest.fixture
def ordinary_user():
    """(python, Popen kwargs) that run this checkout as a user without root's powers."""
    import site

    site_dir = next(p for p in site.getsitepackages() if p.startswith(sys.prefix))
    if os.geteuid() != 0:
        return sys.executable, {}, site_dir
    nobody = pwd.getpwnam("nobody")
    as_nobody = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    # This interpreter may live where nobody cannot go (/root/.pyenv): the system one of the
    # same version reads the same packages.
    for python in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        try:
            probe = subprocess.run(
                [python, "-c", f"import site, sys; site.addsitedir({site_dir!r}); import django, psycopg"],
                cwd="/",
                capture_output=True,
                env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
                **as_nobody,
            )
        except OSError:
            continue  # not there, or not for nobody
        if probe.returncode == 0:
            return python, as_nobody, site_dir
    pytest.skip("no Python that user nobody may run with this checkout's packages")


def test_a_local_agent_cannot_read_the_schedulers_environment_or_its_folder(acme, ordinary_user):
    python, as_user, site_dir = ordinary_user
    home = Path(tempfile.mkdtemp(prefix="scheduler-home-"))
    try:
        home.chmod(0o755)
        (home / "db.sqlite3").write_text(f"{MARK}-database")
        (home / "db.sqlite3").chmod(0o644)
        now = datetime.now(timezone.utc)
        schedule = make_schedule(acme, make_agent(acme, "snoop"), schedule_type="once", run_at=now + timedelta(days=1), now=now, output_type="json")
        run = make_run(schedule, at=now - timedelta(minutes=1))

        db = connection.settings_dict
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SECRET_KEY": f"{MARK}-secret-key",
            "EXECUTION_PLANE_SECRET": f"{MARK}-plane-secret",
            "EXECUTION_PLANE": "local",
            "LOCAL_AGENTS": json.dumps({"snoop": [python, "-c", SNOOP]}),
            "LOG_FORMAT": "json",
        }
        done = subprocess.run(
            [python, "-c", _boot(site_dir), "run_scheduler", "--once", "--workers", "1", "--id", "isolation"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            **as_user,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    run = reload(run)
    assert run.status == RunStatus.SUCCESS, (run.error_message, done.stderr[-3000:])
    import base64

    report = base64.b64decode(run.outputs[0]["url"].split(",", 1)[1]).decode()
    assert MARK not in report, report
    seen = json.loads(report)
    # Same user, but the scheduler is non-dumpable: its /proc files are closed to the agent.
    assert seen["environ"] == "PermissionError"
    assert seen["files"] == {"db.sqlite3": "FileNotFoundError", "../db.sqlite3": "FileNotFoundError", ".env": "FileNotFoundError"}

"""The production web server as `make serve` and the deployment run it: gunicorn with
gunicorn.conf.py, DEBUG off, static files collected and served by WhiteNoise.

Its database is a PostgreSQL address where nothing listens: the liveness probe must still
answer, the readiness probe must say why not, and the access log must carry the request id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import polling

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn(polling.LoggedProcess):
    name = "gunicorn"

    def __init__(self, tmp_path: Path, env: dict):
        self.port = free_port()
        self.log_path = tmp_path / "gunicorn.log"
        self._log = self.log_path.open("w")
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port), "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "2"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        except OSError:
            return None, {}, b""

    def access_lines(self) -> list[dict]:
        lines = [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "web.access"]

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            self._log.close()


@pytest.fixture
def gunicorn(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "DJANGO_"))}
    env.update(
        DEBUG="false",
        LOG_FORMAT="json",
        SECRET_KEY="a-serving-test-key-that-is-long-and-not-the-built-in-one",
        DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/nothing",
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=300,
    )
    server = Gunicorn(tmp_path, env)
    try:
        polling.wait_until(lambda: server.get("/healthz")[0] == 200, deadline=60, what="gunicorn to answer", procs=[server])
        yield server
    finally:
        if server.poll() is None:
            server.stop()


def test_probes_tell_a_live_process_from_a_ready_one_and_the_log_names_the_request(gunicorn):
    status, _, body = gunicorn.get("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    status, headers, body = gunicorn.get("/readyz", {"X-Request-ID": "probe-1234"})
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "reason": "The database does not answer."}
    assert headers["X-Request-ID"] == "probe-1234"

    polling.wait_until(lambda: any(line["path"] == "/readyz" for line in gunicorn.access_lines()), what="the access line")
    lines = gunicorn.access_lines()
    failed = [line for line in lines if line["path"] == "/readyz"]
    assert len(failed) == 1
    assert failed[0]["request_id"] == "probe-1234"
    assert failed[0]["status"] == 503 and failed[0]["method"] == "GET" and failed[0]["duration_ms"] >= 0
    # The healthy probes (the fixture's and ours) write no line: they would bury the traffic.
    assert not [line for line in lines if line["path"] == "/healthz"]
    assert gunicorn.stop() == 0


def test_static_files_are_served_hashed_compressed_and_cached_for_good(gunicorn, tmp_path):
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    hashed = manifest["automation/app.css"]
    assert hashed != "automation/app.css"

    status, headers, _ = gunicorn.get(f"/static/{hashed}", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    status, _, page = gunicorn.get("/accounts/login/")
    assert status == 200
    assert f"/static/{hashed}".encode() in page

    access = [line for line in gunicorn.access_lines() if line["path"].startswith("/static/")]
    assert access and access[0]["status"] == 200 and access[0]["request_id"]


@pytest.mark.parametrize("site_url, secure", [("https://schedules.example.com", True), ("http://127.0.0.1:8000", False)])
def test_cookies_are_https_only_when_the_site_is_served_over_https(site_url, secure):
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
    env = {k: v for k, v in os.environ.items() if k not in ("SECURE_COOKIES", "DJANGO_SETTINGS_MODULE")}
    env.update(SITE_URL=site_url, DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stdout.split() == [str(secure), str(secure)]


def test_make_serve_runs_web_and_scheduler_and_ctrl_c_stops_both(tmp_path):
    # scripts/serve.sh as `make serve` runs it, on a SQLite file of its own; Ctrl-C in a
    # terminal sends SIGINT to the whole foreground process group.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", STATIC_ROOT=str(tmp_path / "static"),
        PORT=str(port), GUNICORN_WORKERS="1", GUNICORN_THREADS="2", PYTHONDONTWRITEBYTECODE="1",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["bash", "scripts/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        polling.wait_until(lambda: "Press Ctrl-C to stop." in log_path.read_text(), deadline=180, what="the banner")
        text = log_path.read_text()
        assert f"http://127.0.0.1:{port}/automation/schedules/" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            assert response.status == 200
        # The scheduler starts beside gunicorn, and may log after the banner.
        started = polling.wait_until(
            lambda: [line for line in log_path.read_text().splitlines() if '"scheduler.started"' in line],
            deadline=60, what="the scheduler to start",
        )
        assert '"database": "sqlite"' in started[0]
        # DEBUG is off: an unknown page is the plain 404, not Django's debug page.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 404 and b"URLconf" not in error.read()
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
    # Nothing of the group is left: gunicorn, its workers and the scheduler all stopped.
    try:
        polling.wait_until(lambda: not group_alive(proc.pid), deadline=30, what="every process of make serve to stop")
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)  # leave no hung process behind a failure
    assert '"scheduler.stopped"' in log_path.read_text()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True

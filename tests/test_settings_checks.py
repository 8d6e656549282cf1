"""Deployment settings are checked before the project serves or schedules anything."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parent.parent


def deployment_ids() -> set[str]:
    return {message.id for message in run_checks(tags=["deployment"], include_deployment_checks=True)}


def test_the_built_in_secret_key_with_debug_off_fails_the_deployment_check(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = django_settings.INSECURE_SECRET_KEY
    with pytest.raises(SystemCheckError, match="project.E001"):
        call_command("check", deploy=True, stdout=StringIO(), stderr=StringIO())
    # Local commands (makemigrations, migrate, the test suite) still run without a key.
    call_command("check", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("debug, key", [(True, None), (False, "a-real-secret-key-from-the-environment-0123456789")])
def test_debug_or_an_own_secret_key_passes(settings, debug, key):
    settings.DEBUG = debug
    settings.SECRET_KEY = key or django_settings.INSECURE_SECRET_KEY
    assert "project.E001" not in deployment_ids()


def test_an_http_plane_without_a_callback_secret_is_warned_about(settings):
    settings.EXECUTION_PLANE, settings.EXECUTION_PLANE_SECRET = "http", ""
    messages = [m for m in run_checks(tags=["deployment"]) if m.id == "project.W001"]
    assert messages and not messages[0].is_serious()
    assert "every callback" in messages[0].msg
    settings.EXECUTION_PLANE_SECRET = "s3cret"
    assert "project.W001" not in deployment_ids()
    settings.EXECUTION_PLANE, settings.EXECUTION_PLANE_SECRET = "local", ""
    assert "project.W001" not in deployment_ids()


def test_a_langgraph_plane_needs_its_url_and_a_secret_for_its_webhooks(settings):
    settings.EXECUTION_PLANE, settings.LANGGRAPH_URL, settings.EXECUTION_PLANE_SECRET = "langgraph", "", ""
    ids = deployment_ids()
    assert "project.E010" in ids and "project.W001" in ids
    settings.LANGGRAPH_URL, settings.EXECUTION_PLANE_SECRET = "http://127.0.0.1:2024", "s3cret"
    assert not {"project.E010", "project.W001"} & deployment_ids()


@pytest.mark.parametrize("rate, ok", [("120/min", True), ("10/s", True), ("", True), ("120", False),
                                      ("fast", False), ("0/min", False), ("10/fortnight", False)])
def test_throttle_rates_must_be_rates(settings, rate, ok):
    settings.API_THROTTLE_RUN = rate
    assert ("project.E002" not in deployment_ids()) == ok


@pytest.mark.slow
def test_the_wsgi_application_refuses_to_load_on_the_built_in_key():
    # gunicorn imports config.wsgi and runs no system checks of its own.
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DEBUG="false", PYTHONDONTWRITEBYTECODE="1")
    code = "import config.wsgi"
    refused = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "project.E001" in refused.stderr, refused.stderr[-2000:]
    env["SECRET_KEY"] = "a-real-secret-key-from-the-environment-0123456789"
    served = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert served.returncode == 0, served.stderr[-2000:]

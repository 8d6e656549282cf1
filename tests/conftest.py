"""Shared fixtures: personas, a fake clock, and the database-kind markers.

Personas (as healthchecks' alice/bob/charlie): in org `acme`, alice is admin, eddie editor,
olga operator, victor viewer; mallory is admin of another org, `globex`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from config import clock as clock_module
from config.clock import FakeClock
from tests import factories
from tests.constants import T0

ROOT = Path(__file__).resolve().parents[1]


# In CI the property tests replay the same examples every run, so a red build always means a
# change broke something, never that a new random example turned up; locally they explore.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run through `make test`")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Personas get passwords in most tests; PBKDF2 costs ~0.35 s a hash on these machines,
    # which was most of the suite's setup time. A subprocess (another settings load) still
    # uses the real hashers, so log in through one only with users it created itself.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def compiled_messages():
    """The .mo files are committed and rebuilt by the make targets; build them here too when a
    test run starts with a catalogue newer than its .mo: the pages and the services' messages
    are tested in Chinese. (test_translations.py checks the committed .mo against its .po.)"""
    for po in ROOT.glob("locale/*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            call_command("compilemessages", ignore_patterns=[".venv", "tests"], verbosity=0)
            break


@pytest.fixture(autouse=True)
def _default_language():
    # LocaleMiddleware leaves a request's language active in the thread after the response
    # (the next request activates its own). Services write their messages in the active
    # language, so a page test in Chinese must not leave the next test in Chinese.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_api_throttling(settings):
    # Tests send bursts from one user (schemathesis sends hundreds of writes a minute);
    # the limits are tested on their own (tests/api/test_throttling.py).
    settings.API_THROTTLE_WRITE = ""
    settings.API_THROTTLE_RUN = ""
    settings.ALERT_TEST_THROTTLE = ""


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings):
    # The served storage (hashed, compressed names) reads the manifest `collectstatic` writes;
    # tests render pages from the source files instead, as `make run` does.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def now():
    return T0


@pytest.fixture
def fake_clock():
    """Installs a FakeClock as the process clock; move it with `fake_clock.advance(...)`."""
    clock = FakeClock(T0)
    with clock_module.use(clock):
        yield clock


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def acme(db):
    return factories.make_org("acme")


@pytest.fixture
def globex(db):
    return factories.make_org("globex")


@pytest.fixture
def agent(acme):
    return factories.make_agent(acme, "echo")


@pytest.fixture
def alice(acme):
    return factories.make_user("alice", acme, "admin")


@pytest.fixture
def eddie(acme):
    return factories.make_user("eddie", acme, "editor")


@pytest.fixture
def olga(acme):
    return factories.make_user("olga", acme, "operator")


@pytest.fixture
def victor(acme):
    return factories.make_user("victor", acme, "viewer")


@pytest.fixture
def mallory(globex):
    return factories.make_user("mallory", globex, "admin")


@pytest.fixture
def personas(alice, eddie, olga, victor, mallory):
    return {"admin": alice, "editor": eddie, "operator": olga, "viewer": victor, "outsider": mallory}

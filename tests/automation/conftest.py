"""Fixtures of the page tests: signed-in clients and the compiled catalogues."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def compiled_messages():
    """The .mo files are built by the make targets; build them here too when a test run
    starts without them (or with a catalogue newer than its .mo)."""
    for po in ROOT.glob("locale/*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            call_command("compilemessages", ignore_patterns=[".venv", "tests"], verbosity=0)
            break


@pytest.fixture
def signed_in(client):
    """`signed_in(user)`: the test client, logged in as `user`."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in

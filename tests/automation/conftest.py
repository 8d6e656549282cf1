"""Fixtures of the page tests: signed-in clients."""

from __future__ import annotations

import pytest


@pytest.fixture
def signed_in(client):
    """`signed_in(user)`: the test client, logged in as `user`."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: the org summary is cached (automation/summary_cache.py),
    and tests on a fake clock would otherwise meet another test's entry."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()

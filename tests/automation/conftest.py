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

"""Password guessing at /accounts/login/ (issue 19, item 7): was, 25 wrong passwords each
answered normally, then the right one worked. Now a lockout per user and per address."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.factories import make_user

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


@pytest.fixture
def ada(acme):
    return make_user("ada", acme, "admin")  # password pw-ada


def sign_in(client, username, password, address="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_the_user_out_even_with_the_right_one(client, ada, settings):
    settings.AXES_FAILURE_LIMIT = 5
    assert [sign_in(client, "ada", f"guess-{i}").status_code for i in range(4)] == [200] * 4
    locked = sign_in(client, "ada", "guess-4")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Signing in is blocked for now" in page and "blocked for 15 minutes" in page
    right = sign_in(client, "ada", "pw-ada")
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # From another address too: the lock is on the user.
    assert sign_in(client, "ada", "pw-ada", address="198.51.100.9").status_code == 429


def test_one_address_guessing_many_users_is_locked_out(client, acme, settings):
    settings.AXES_FAILURE_LIMIT = 5
    users = [make_user(f"u{i}", acme, "viewer") for i in range(6)]
    statuses = [sign_in(client, user.username, "wrong").status_code for user in users[:5]]
    assert statuses == [200] * 4 + [429]
    assert sign_in(client, users[5].username, f"pw-{users[5].username}").status_code == 429
    assert sign_in(client, users[5].username, f"pw-{users[5].username}", address="198.51.100.9").status_code == 302


def test_the_documented_reset_lets_the_user_in_again(client, ada, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for i in range(3):
        sign_in(client, "ada", f"guess-{i}")
    assert sign_in(client, "ada", "pw-ada").status_code == 429
    call_command("axes_reset_username", "ada")
    call_command("axes_reset_ip", "203.0.113.7")
    response = sign_in(client, "ada", "pw-ada")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(ada.pk)


def test_a_success_before_the_limit_starts_the_count_again(client, ada, settings):
    settings.AXES_FAILURE_LIMIT = 3
    sign_in(client, "ada", "guess-1")
    sign_in(client, "ada", "guess-2")
    assert sign_in(client, "ada", "pw-ada").status_code == 302
    client.logout()
    sign_in(client, "ada", "guess-3")
    sign_in(client, "ada", "guess-4")
    assert sign_in(client, "ada", "pw-ada").status_code == 302

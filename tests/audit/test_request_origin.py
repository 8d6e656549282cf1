"""Who acted from where: the audited client address and request id come from what we trust."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.api.conftest import API, VALID_SCHEDULE, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def create(user, **headers):
    response = client_for(user).post(f"{API}/schedules/", VALID_SCHEDULE, format="json", **headers)
    assert response.status_code == 201, response.content
    return response, AuditEvent.objects.get(target_id=response.json()["id"], action="create")


# --- client address ---------------------------------------------------------------------------


@pytest.mark.parametrize("forwarded", ["unknown", "203.0.113.7:52311", "203.0.113.7", "1.2.3.4, 5.6.7.8", "<script>"])
def test_without_trusted_proxies_the_forwarded_header_is_ignored(alice, agent, forwarded):
    # Any client can send X-Forwarded-For; only the connection's address is a fact.
    _, event = create(alice, HTTP_X_FORWARDED_FOR=forwarded)
    assert event.client_ip == "127.0.0.1"


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        # One proxy appends the address it received from: the last entry is the client.
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.66, 203.0.113.7", "203.0.113.7"),  # the first entry is the client's own claim
        (2, "198.51.100.66, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        # Proxies that add the port (some cloud load balancers do) still give the address.
        (1, "203.0.113.7:52311", "203.0.113.7"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "2001:DB8::7", "2001:db8::7"),
        # Fewer entries than proxies: every entry was written by a trusted proxy; take the first.
        (2, "203.0.113.7", "203.0.113.7"),
        # Not an address: nothing is stored rather than a value the database refuses.
        (1, "unknown", None),
        (1, "203.0.113.7, not-an-ip", None),
        (1, "999.1.1.1", None),
    ],
)
def test_trusted_proxies_are_peeled_and_only_a_valid_address_is_stored(
    alice, agent, settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    _, event = create(alice, HTTP_X_FORWARDED_FOR=forwarded)
    assert event.client_ip == expected


def test_trusted_proxy_without_a_forwarded_header_stores_the_connection_address(alice, agent, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    _, event = create(alice)
    assert event.client_ip == "127.0.0.1"


def test_an_invalid_connection_address_is_not_stored(alice, agent):
    # e.g. a server on a unix socket passes an empty or odd REMOTE_ADDR.
    _, event = create(alice, REMOTE_ADDR="unix:/run/app.sock")
    assert event.client_ip is None


# --- request id -------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["5d41402abc4b2a76b9719d911017c592", "req-42_a.b:c", "Root=1-5759e988/x+y"])
def test_a_sane_caller_request_id_is_kept_echoed_and_audited(alice, agent, given):
    response, event = create(alice, HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert event.request_id == given


@pytest.mark.parametrize(
    "given",
    ["<script>alert(1)</script>", "x" * 65, "a b", 'id" admin="true', "caf\u00e9", "line\u2028break", "\u202eevil"],
)
def test_an_unsafe_caller_request_id_is_replaced_by_a_generated_one(alice, agent, given):
    response, event = create(alice, HTTP_X_REQUEST_ID=given)
    generated = response["X-Request-ID"]
    assert generated != given and len(generated) == 32 and generated.isalnum()
    assert event.request_id == generated

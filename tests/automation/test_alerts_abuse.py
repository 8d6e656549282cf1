"""The alerts page tried as an attacker would (issue 19, items 2 and 3; issue 18, item 4):
channels cannot be multiplied to flood one address, test alerts are throttled per org and
queued (no web worker waits on a delivery), and only who manages channels reads a webhook URL.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core import mail
from django.core.cache import cache

from audit.models import AuditEvent
from runs.alerts.delivery import deliver_due
from runs.models import AlertChannel, DeliveryAttempt
from config import clock
from tests.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/automation/alerts/"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def add_channel(client, target, name="Ops", kind="email"):
    return client.post(URL + "channels/?org=acme", {"new-kind": kind, "new-name": name, "new-target": target})


def test_twelve_channels_to_one_victim_and_three_test_alerts_send_at_most_three_mails(signed_in, alice, settings):
    """Was: 12 channels saved, 36 e-mails sent in 0.6 s."""
    settings.ALERT_TEST_THROTTLE = "5/hour"
    client = signed_in(alice)
    statuses = [add_channel(client, "victim@example.com", name=f"Ops {i}").status_code for i in range(12)]
    assert statuses == [302] + [400] * 11
    for _ in range(3):
        client.post(URL + "test/?org=acme")
    deliver_due(now=clock.now())
    assert AlertChannel.objects.count() == 1
    assert len(mail.outbox) == 3


def test_a_second_channel_with_the_same_target_is_refused_in_any_case(signed_in, alice):
    client = signed_in(alice)
    assert add_channel(client, "victim@example.com", name="First").status_code == 302
    response = add_channel(client, "Victim@Example.COM", name="Second")
    assert response.status_code == 400
    assert "the channel “First” already sends to this address" in response.content.decode()
    assert list(AlertChannel.objects.values_list("name", flat=True)) == ["First"]


def test_an_org_has_at_most_the_setting_of_channels(signed_in, alice, settings):
    settings.ALERT_MAX_CHANNELS_PER_ORG = 3
    client = signed_in(alice)
    assert [add_channel(client, f"ops{i}@example.com", name=f"Ops {i}").status_code for i in range(4)] == [302, 302, 302, 400]
    response = add_channel(client, "ops9@example.com", name="Ops 9")
    assert "an organization has at most 3 alert channels" in response.content.decode()
    assert AlertChannel.objects.count() == 3


def test_test_alerts_are_throttled_per_org_whoever_sends_them(signed_in, alice, acme, globex, mallory, settings):
    settings.ALERT_TEST_THROTTLE = "2/hour"
    other_admin = make_user("ada", acme, "admin")
    assert signed_in(alice).post(URL + "test/?org=acme").status_code == 302
    assert signed_in(alice).post(URL + "test/?org=acme").status_code == 302
    response = signed_in(other_admin).post(URL + "test/?org=acme")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "You did this too often" in response.content.decode()
    assert signed_in(mallory).post(URL + "test/?org=globex").status_code == 302  # another org's own count


def test_send_test_alert_answers_at_once_and_the_page_shows_the_outcome_when_sent(signed_in, alice):
    """Issue 18 item 4: the request queues the deliveries; the scheduler's outbox sends them."""
    client = signed_in(alice)
    add_channel(client, "ops@example.com")
    response = client.post(URL + "test/?org=acme")
    assert response.status_code == 302 and "&test=" in response["Location"]
    assert mail.outbox == [] and not DeliveryAttempt.objects.exists(), "nothing is sent while the request waits"

    page = client.get(response["Location"]).content.decode()
    assert "Test alert results" in page and "Queued: the scheduler sends it in a moment." in page
    assert 'hx-trigger="every 1s"' in page  # the results poll while a delivery has no outcome

    deliver_due(now=clock.now())
    status_url = page.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    fragment = client.get(status_url, headers={"HX-Request": "true"}).content.decode()
    assert "<strong>Ops</strong> (E-mail):" in fragment and "Delivered" in fragment
    assert "hx-trigger" not in fragment  # done: the polling stops
    assert len(mail.outbox) == 1


def test_a_slow_webhook_does_not_hold_the_request(signed_in, alice, settings):
    """A webhook that accepts the connection and never answers: the click still answers at once."""
    import socket

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 3
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        client = signed_in(alice)
        add_channel(client, f"http://127.0.0.1:{silent.getsockname()[1]}/hook", name="Silent", kind="webhook")
        started = time.monotonic()
        assert client.post(URL + "test/?org=acme").status_code == 302
        assert time.monotonic() - started < 1.5
    finally:
        silent.close()


def test_another_orgs_test_results_are_not_found(signed_in, alice, mallory):
    add_channel(signed_in(alice), "ops@example.com")
    location = signed_in(alice).post(URL + "test/?org=acme")["Location"]
    event_id = location.rsplit("=", 1)[1]
    response = signed_in(mallory).get(f"{URL}test/{event_id}/?org=globex", headers={"HX-Request": "true"})
    assert response.status_code == 404


@pytest.mark.parametrize("role, sees_url", [("admin", True), ("editor", False), ("operator", False), ("viewer", False)])
def test_only_who_manages_channels_reads_a_webhook_url(signed_in, personas, alice, settings, role, sees_url):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # no DNS on this machine: the check is not the point
    add_channel(signed_in(alice), SLACK, name="Slack", kind="webhook")
    page = signed_in(personas[role]).get(URL).content.decode()
    assert ("XXXXsecretXXXX" in page) is sees_url
    assert "https://hooks.slack.com/***" in page or sees_url


def test_the_audit_trail_stores_and_shows_only_the_masked_webhook_url(signed_in, alice, victor, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    client = signed_in(alice)
    add_channel(client, SLACK, name="Slack", kind="webhook")
    channel = AlertChannel.objects.get()
    prefix = f"c{channel.pk}"
    client.post(f"{URL}channels/{channel.pk}/?org=acme", {
        f"{prefix}-kind": "webhook", f"{prefix}-name": "Slack", f"{prefix}-target": SLACK.replace("XXXX", "YYYY"),
    })
    stored = list(AuditEvent.objects.filter(target_type="alertchannel").order_by("id").values_list("before", "after"))
    assert "XXXX" not in json.dumps(stored) and "YYYY" not in json.dumps(stored)  # no path, old or new
    assert stored[0][1]["target"] == "https://hooks.slack.com/***"
    assert stored[1][1]["target"] == "https://hooks.slack.com/*** (changed)"
    for user in (alice, victor):
        page = signed_in(user).get("/automation/audit/?org=acme").content.decode()
        assert "XXXXsecretXXXX" not in page and "https://hooks.slack.com/***" in page


def test_the_results_stop_polling_and_say_so_when_nothing_sends_them(signed_in, alice, fake_clock):
    client = signed_in(alice)
    add_channel(client, "ops@example.com")
    location = client.post(URL + "test/?org=acme")["Location"]
    fake_clock.advance(minutes=3)  # no scheduler ran meanwhile
    page = client.get(location).content.decode()
    assert "Still queued after two minutes: is the scheduler running?" in page
    assert 'hx-trigger="every 1s"' not in page

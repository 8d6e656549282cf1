"""Alert delivery: signed webhooks to a real loopback receiver, retries with back-off,
private addresses refused, e-mail through Django's locmem backend, and the test alert."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail

from audit.models import AuditAction, AuditEvent
from audit.services import Actor
from config.signing import sign
from runs.alerts.channels import channel_create, channel_delete, channel_update
from runs.alerts.delivery import deliver_due
from runs.alerts.services import alert_raise, alert_send_test
from runs.selectors import delivery_progress
from runs.models import AlertCause, AlertChannel, AlertDelivery, DeliveryAttempt, DeliveryState
from tests.constants import NINE
from tests.factories import make_schedule
from tests.polling import wait_until
from tests.webhook_server import WebhookServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = [10, 60]
    server = WebhookServer()
    yield server
    server.close()


def webhook(org, url, secret="s3cret"):
    return channel_create(actor=Actor.system(), org=org, data={"kind": "webhook", "name": "Hook", "target": url, "secret": secret}, now=NINE)


def open_failure_alert(org, agent):
    schedule = make_schedule(org, agent, name="Sales")
    return alert_raise(org_id=org.pk, cause=AlertCause.CONSECUTIVE_FAILURES, schedule_id=schedule.pk, detail="3 failed", now=NINE)


def test_the_webhook_gets_a_json_body_signed_with_the_channel_secret(acme, agent, receiver):
    webhook(acme, receiver.url)
    alert = open_failure_alert(acme, agent)
    assert deliver_due(now=NINE) == 1
    (got,) = receiver.received
    assert got.path == "/hooks/alerts"
    assert got.headers["X-Alert-Signature"] == sign("s3cret", got.body)
    body = json.loads(got.body)
    assert body["alert_id"] == str(alert.pk) and body["event"] == "opened" and body["cause"] == "consecutive_failures"
    assert body["schedule"]["name"] == "Sales" and body["org"] == "acme" and body["detail"] == "3 failed"
    assert AlertDelivery.objects.get().state == DeliveryState.DELIVERED
    assert deliver_due(now=NINE + timedelta(hours=1)) == 0, "a delivered event is not sent again"


def test_a_failing_webhook_is_retried_with_back_off_then_given_up(acme, agent, receiver):
    receiver.answers = [503]
    webhook(acme, receiver.url)
    open_failure_alert(acme, agent)
    assert deliver_due(now=NINE) == 1
    assert deliver_due(now=NINE + timedelta(seconds=9)) == 0, "not before the first back-off"
    assert deliver_due(now=NINE + timedelta(seconds=10)) == 1
    assert deliver_due(now=NINE + timedelta(seconds=69)) == 0
    assert deliver_due(now=NINE + timedelta(seconds=70)) == 1
    assert deliver_due(now=NINE + timedelta(days=1)) == 0
    assert len(receiver.received) == 3
    delivery = AlertDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 3)
    tries = list(DeliveryAttempt.objects.filter(delivery=delivery))
    assert [(t.ok, t.status_code) for t in tries] == [(False, 503)] * 3
    assert tries[0].error == "the webhook answered HTTP 503"


def test_a_retry_that_succeeds_ends_the_delivery(acme, agent, receiver):
    receiver.answers = [500, 204]
    webhook(acme, receiver.url)
    open_failure_alert(acme, agent)
    deliver_due(now=NINE)
    deliver_due(now=NINE + timedelta(seconds=10))
    assert AlertDelivery.objects.get().state == DeliveryState.DELIVERED
    assert [t.status_code for t in DeliveryAttempt.objects.all()] == [500, 204]


def test_an_unreachable_webhook_records_the_error(acme, agent, receiver):
    url = receiver.url
    receiver.close()
    webhook(acme, url)
    open_failure_alert(acme, agent)
    deliver_due(now=NINE)
    attempt = DeliveryAttempt.objects.get()
    assert not attempt.ok and attempt.status_code is None and "Connection refused" in attempt.error


def test_loopback_and_private_webhooks_are_refused_unless_allowed(acme, settings):
    from django.core.exceptions import ValidationError

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x"):
        with pytest.raises(ValidationError) as caught:
            webhook(acme, url)
        assert "is not allowed: alerts are only sent to public addresses" in str(caught.value)
    with pytest.raises(ValidationError, match="must start with http"):
        webhook(acme, "ftp://example.com/x")


def test_e_mail_channels_send_through_the_mail_backend(acme, agent):
    channel_create(actor=Actor.system(), org=acme, data={"kind": "email", "name": "Ops", "target": "ops@example.com"}, now=NINE)
    open_failure_alert(acme, agent)
    deliver_due(now=NINE)
    (message,) = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == "[acme] Alert opened: consecutive failures — Sales"
    assert "3 failed" in message.body
    assert DeliveryAttempt.objects.get().ok


def test_the_test_alert_is_queued_and_the_outbox_sends_it_once_to_every_channel(acme, receiver):
    webhook(acme, receiver.url)
    channel_create(actor=Actor.system(), org=acme, data={"kind": "email", "name": "Ops", "target": "ops@example.com"}, now=NINE)
    event = alert_send_test(org=acme, now=NINE)
    # Queued, not sent: whoever asked does not wait on a webhook or a mail server.
    assert receiver.received == [] and mail.outbox == []
    assert [d.first_try for d in delivery_progress(event)] == [None, None]
    assert deliver_due(now=NINE) == 2
    assert [d.first_try.ok for d in delivery_progress(event)] == [True, True]
    assert json.loads(receiver.received[0].body)["cause"] == "test" and len(mail.outbox) == 1
    assert deliver_due(now=NINE + timedelta(minutes=5)) == 0


def test_a_test_alert_goes_once_to_each_distinct_target(acme):
    """Channels saved before duplicates were refused still get one message per address."""
    for name in ("A", "B", "C"):
        AlertChannel.objects.create(org=acme, kind="email", name=name, target="Victim@example.com ", created_at=NINE, updated_at=NINE)
    AlertChannel.objects.create(org=acme, kind="email", name="D", target="victim@EXAMPLE.com", created_at=NINE, updated_at=NINE)
    event = alert_send_test(org=acme, now=NINE)
    assert [d.channel.name for d in delivery_progress(event)] == ["A"]
    deliver_due(now=NINE)
    assert len(mail.outbox) == 1


def test_channel_changes_are_audited_without_the_secret(acme, alice, receiver):
    actor = Actor(user=alice)
    channel = channel_create(actor=actor, org=acme, data={"kind": "webhook", "name": "Hook", "target": receiver.url, "secret": "s3cret"}, now=NINE)
    channel_update(actor=actor, channel=channel, data={"name": "On-call", "secret": "n3w"}, now=NINE)
    channel_delete(actor=actor, channel=channel, now=NINE)
    events = list(AuditEvent.objects.filter(target_type="alertchannel").order_by("id"))
    assert [e.action for e in events] == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE]
    assert all(e.actor == alice for e in events)
    assert events[1].after == {"name": "On-call", "secret": "*** (changed)"}
    assert "s3cret" not in json.dumps([e.before for e in events] + [e.after for e in events])


def test_a_name_that_does_not_resolve_is_saved_and_its_sends_are_retried(acme, agent, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    webhook(acme, "https://no-such-host.invalid/hook")
    open_failure_alert(acme, agent)
    deliver_due(now=NINE)
    attempt = DeliveryAttempt.objects.get()
    assert not attempt.ok and "could not be resolved" in attempt.error
    assert AlertDelivery.objects.get().state == DeliveryState.PENDING


def test_the_call_goes_to_the_address_that_was_checked(settings, monkeypatch):
    """DNS rebinding: the connection uses the address the check saw, not a second lookup of
    the name (which could answer 127.0.0.1). The one stand-in of this file: a closed network
    has no DNS to rebind, so the resolver and the connect are replaced by recorders."""
    import socket

    from runs.alerts import delivery

    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    lookups, connects = [], []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    def connect(address, timeout=None, **kwargs):
        connects.append(address)
        raise OSError("not connecting in a test")

    monkeypatch.setattr(delivery.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(delivery.socket, "create_connection", connect)
    outcome = delivery.send_webhook("http://hooks.example.com:8080/x", "s", b"{}", "opened")
    assert lookups == ["hooks.example.com"] and connects == [("93.184.216.34", 8080)]
    assert not outcome.ok and "not connecting in a test" in outcome.error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slow_webhook_never_holds_the_scheduler_loop(acme, agent, receiver, scheduler_at, settings):
    """The deliveries run beside the loop: with them inline, a webhook slow to answer (up to the
    timeout, for each of a batch of deliveries) held every schedule's firing that long."""
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 5
    receiver.hold.clear()
    webhook(acme, receiver.url)
    open_failure_alert(acme, agent)
    scheduler = scheduler_at(NINE, workers=2)

    scheduler.check_alerts(NINE)

    wait_until(lambda: receiver.received, what="the webhook call")
    assert not DeliveryAttempt.objects.exists(), "the loop waited for the webhook's answer"
    receiver.hold.set()
    wait_until(lambda: DeliveryAttempt.objects.filter(ok=True).exists(), what="the delivery recorded")
    assert AlertDelivery.objects.get().state == DeliveryState.DELIVERED

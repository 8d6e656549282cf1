"""The one outgoing transport (config/transport.py) against real servers behind the fault
proxy: the plane client over HTTP/1.0, and alert webhooks that answer slowly."""

from __future__ import annotations

import threading
import time

import pytest

from runs.alerts.delivery import deliver_due, send_webhook
from runs.models import DeliveryAttempt
from runs.plane.http import HttpPlaneClient
from tests.constants import NINE, T0
from tests.factories import make_run, make_schedule
from tests.faults.proxy import Fault, FaultProxy
from tests.plane_server import PlaneServer
from tests.polling import wait_until
from tests.runs.test_alert_delivery import open_failure_alert, webhook
from tests.webhook_server import WebhookServer


@pytest.mark.django_db
def test_a_plane_that_closes_after_every_answer_gets_every_create_through(acme, agent):
    """Was: 10 of 10 calls failed with 'Bad file descriptor' against http.server's HTTP/1.0
    (the body comes in a segment after the headers, and the old reader lost its socket)."""
    plane = PlaneServer(http10=True).start()
    try:
        client = HttpPlaneClient(base_url=plane.url, timeout=2, callback="http://127.0.0.1/cb")
        schedule = make_schedule(acme, agent)
        answers = [client.start(make_run(schedule, at=T0.replace(hour=h))) for h in range(10)]
    finally:
        plane.stop()
    assert [a.session_id for a in answers] == [f"sess-{n:06d}" for n in range(1, 11)]


@pytest.fixture
def slow_hook(settings):
    """A webhook receiver behind the fault proxy; the receiver is on loopback."""
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    receiver = WebhookServer()
    port = int(receiver.url.split(":")[2].split("/")[0])
    proxy = FaultProxy(("127.0.0.1", port)).start()
    yield receiver, proxy, f"{proxy.url}/hooks/alerts"
    proxy.stop()
    receiver.close()


def test_a_webhook_dripping_its_answer_is_cut_at_the_timeout(settings, slow_hook):
    """Was: one header byte every 3 s held send_webhook for 24 s despite a 5 s timeout."""
    receiver, proxy, url = slow_hook
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 0.5
    proxy.inject(Fault.DRIPPING_ANSWER, delay=0.1)  # the answer would take several seconds
    started = time.monotonic()
    outcome = send_webhook(url, "s", b"{}", "opened")
    took = time.monotonic() - started
    assert not outcome.ok and "in time" in outcome.error
    assert took < 1.0, f"held {took:.1f} s"
    assert len(receiver.received) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_orgs_slow_webhook_does_not_hold_another_orgs_delivery(acme, globex, agent, settings, slow_hook):
    from tests.factories import make_agent

    receiver, proxy, slow_url = slow_hook
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 3
    fast = WebhookServer()
    try:
        proxy.inject(Fault.DRIPPING_ANSWER, times=None, delay=1.0)  # acme: a byte a second
        webhook(acme, slow_url)
        webhook(globex, fast.url)
        open_failure_alert(acme, agent)
        open_failure_alert(globex, make_agent(globex))
        batch = threading.Thread(target=deliver_due, kwargs={"now": NINE, "parallel": True}, daemon=True)
        started = time.monotonic()
        batch.start()
        wait_until(lambda: DeliveryAttempt.objects.filter(ok=True).exists(), deadline=2.5, what="globex's delivery")
        assert time.monotonic() - started < 2.5  # before acme's call gives up
        batch.join(timeout=10)
        assert DeliveryAttempt.objects.filter(ok=False).count() == 1  # acme's, cut at 3 s
    finally:
        fast.close()

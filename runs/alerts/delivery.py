"""Sending alert events: webhooks (signed JSON) and e-mail, one attempt at a time.

The outbox (AlertDelivery rows) is worked off by the scheduler loop (`deliver_due`), after
the transaction that wrote the event committed: a finishing run never waits on a webhook,
and a delivery survives a restart. A failed attempt is retried after
ALERT_DELIVERY_BACKOFF_SECONDS; every attempt is recorded with its status code or error.

Webhooks go through the project's one outgoing transport (config/transport.py), so
ALERT_WEBHOOK_TIMEOUT_SECONDS bounds the whole call (a webhook sending its answer a byte at a
time is cut there), and a batch is sent on a small bounded pool (ALERT_DELIVERY_WORKERS): one
org's slow webhook holds one worker for at most that long, never every other org's alerts.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction

from config.signing import sign
from config.transport import Transport, TransportError
from runs.alerts.models import AlertDelivery, AlertEvent, ChannelKind, DeliveryAttempt, DeliveryState

log = structlog.get_logger("runs.alerts")

SIGNATURE_HEADER = "X-Alert-Signature"
# A claimed delivery is not picked again by another replica for this long (it is being sent).
CLAIM_SECONDS = 120


class Outcome(NamedTuple):
    ok: bool
    status_code: int | None = None
    error: str = ""
    permanent: bool = False  # retrying cannot help (a refused address, a 4xx)


class AddressRefused(ValueError):
    pass


class HostUnresolved(AddressRefused):
    """The name did not resolve: maybe a typo, maybe DNS is down for a moment (retried)."""


# A fresh connection per call (each webhook is another host, connected at its checked address).
_transport = Transport(keepalive=False)


def check_webhook_url(url: str) -> tuple[str, int, str | None]:
    """The (host, port, address) to call, or AddressRefused in words a person can act on.

    Every address the name resolves to is checked: a private, loopback, link-local or
    reserved one is refused unless ALERT_WEBHOOK_ALLOW_PRIVATE (an org admin must not make
    the scheduler call the internal network). `address` is the checked one to connect to
    (None when private ones are allowed: then the name is simply connected to).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("the webhook URL must start with http:// or https:// and name a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return parts.hostname, port, None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise HostUnresolved(f"the host {parts.hostname} could not be resolved ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise AddressRefused(
                f"{parts.hostname} is a private, loopback or link-local address ({address}); "
                "alerts are only sent to public addresses"
            )
    return parts.hostname, port, infos[0][4][0]


def payload(event: AlertEvent) -> dict:
    alert = event.alert
    schedule = alert.schedule
    return {
        "alert_id": str(alert.pk),
        "event": event.kind,
        "cause": alert.cause,
        "state": alert.state,
        "org": alert.org.slug,
        "schedule": {"id": str(schedule.pk), "name": schedule.name} if schedule else None,
        "detail": event.detail,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "at": event.at.isoformat(),
        "url": f"{settings.SITE_URL}/automation/alerts/",
    }


def send_webhook(url: str, secret: str, body: bytes, event_kind: str) -> Outcome:
    """POST one signed alert to `url`, over within ALERT_WEBHOOK_TIMEOUT_SECONDS whatever the
    receiver does. No redirect is followed (it could lead to an address the check refuses)."""
    try:
        _host, _port, address = check_webhook_url(url)
    except AddressRefused as exc:
        return Outcome(False, error=str(exc), permanent=not isinstance(exc, HostUnresolved))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "schedules-alerts/1",
        SIGNATURE_HEADER: sign(secret, body),
        "X-Alert-Event": event_kind,
    }
    try:
        answer = _transport.request(
            "POST", url, headers=headers, body=body, seconds=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=4096, address=address,
        )
    except TransportError as exc:
        return Outcome(False, error=str(exc)[:500])
    status = answer.status
    if 200 <= status < 300:
        return Outcome(True, status)
    # A 4xx other than "too many" or "timeout" answers the same next time.
    permanent = 400 <= status < 500 and status not in (408, 429)
    return Outcome(False, status, f"the webhook answered HTTP {status}", permanent=permanent)


def send_email(address: str, data: dict) -> Outcome:
    where = f" — {data['schedule']['name']}" if data["schedule"] else ""
    subject = f"[{data['org']}] Alert {data['event']}: {data['cause'].replace('_', ' ')}{where}"
    body = "\n".join(
        [data["detail"], "", f"State: {data['state']}", f"Opened at: {data['opened_at']}",
         f"Resolved at: {data['resolved_at'] or '-'}", f"See: {data['url']}"]
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - any backend error is this attempt's outcome
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(True)


def send(delivery: AlertDelivery) -> Outcome:
    channel = delivery.channel
    data = payload(delivery.event)
    if channel.kind == ChannelKind.WEBHOOK:
        body = json.dumps(data, sort_keys=True).encode()
        return send_webhook(channel.target, channel.secret, body, delivery.event.kind)
    return send_email(channel.target, data)


def delivery_attempt(*, delivery: AlertDelivery, now: datetime) -> DeliveryAttempt:
    """One try of `delivery`, recorded; then delivered, retried later, or given up."""
    outcome = send(delivery)
    backoff = settings.ALERT_DELIVERY_BACKOFF_SECONDS
    attempts = delivery.attempts + 1
    if outcome.ok:
        state, next_at = DeliveryState.DELIVERED, None
    elif outcome.permanent or attempts > len(backoff):
        state, next_at = DeliveryState.FAILED, None
    else:
        state, next_at = DeliveryState.PENDING, now + timedelta(seconds=backoff[attempts - 1])
    with transaction.atomic():
        AlertDelivery.objects.filter(pk=delivery.pk).update(state=state, attempts=attempts, next_attempt_at=next_at)
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery, at=now, ok=outcome.ok, status_code=outcome.status_code, error=outcome.error
        )
    delivery.state, delivery.attempts, delivery.next_attempt_at = state, attempts, next_at
    log.info(
        "alert.delivery", channel=delivery.channel_id, alert_event=delivery.event_id, ok=outcome.ok,
        status_code=outcome.status_code, error=outcome.error or None, state=state,
    )
    return attempt


def claim_due(*, now: datetime, limit: int = 20) -> list[AlertDelivery]:
    """Pending deliveries due now, claimed for CLAIM_SECONDS (SKIP LOCKED: replicas share them)."""
    with transaction.atomic():
        ids = list(
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            AlertDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    rows = AlertDelivery.objects.filter(pk__in=ids).select_related(
        "channel", "event__alert__org", "event__alert__schedule"
    )
    return list(rows)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _delivery_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.ALERT_DELIVERY_WORKERS, thread_name_prefix="alert-delivery")
        return _pool


def _attempt_on_worker(delivery: AlertDelivery, now: datetime) -> None:
    try:
        delivery_attempt(delivery=delivery, now=now)
    except Exception:  # noqa: BLE001 - its claim lapses and it is sent again
        log.exception("alerts.delivery_failed", delivery=delivery.pk)
    finally:
        connection.close()


def deliver_due(*, now: datetime, limit: int = 20, parallel: bool = False) -> int:
    """Send what is due (the scheduler's alerts step); returns how many attempts were made.

    `parallel`: on the bounded delivery pool (ALERT_DELIVERY_WORKERS at a time), waiting for
    the batch; otherwise one after the other in this thread (tests, `workers=0`)."""
    claimed = claim_due(now=now, limit=limit)
    if parallel and claimed:
        pool = _delivery_pool()
        for future in [pool.submit(_attempt_on_worker, delivery, now) for delivery in claimed]:
            future.result()
        return len(claimed)
    for delivery in claimed:
        delivery_attempt(delivery=delivery, now=now)
    return len(claimed)


def deliver_due_in_thread(*, now: datetime, name: str) -> threading.Thread:
    """`deliver_due` on a daemon thread of its own (its batch on the bounded pool), with its own
    database connection (closed after): the scheduler's loop never waits on a webhook. Daemon,
    so a stopping scheduler does not wait either; a batch cut short is claimed, and sent again
    once its claim lapses."""

    def deliver() -> None:
        try:
            deliver_due(now=now, parallel=True)
        except Exception:  # noqa: BLE001 - the next check tries again
            log.exception("alerts.delivery_failed")
        finally:
            connection.close()

    thread = threading.Thread(target=deliver, name=name, daemon=True)
    thread.start()
    return thread

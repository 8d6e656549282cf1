"""Alert transitions: raise (open once), update while open, resolve; and the deliveries they queue.

Each transition writes an AlertEvent, and one AlertDelivery per channel of the org (an
outbox): the scheduler loop sends them after the transaction that opened the alert has
committed (runs/alerts/delivery.py), so a slow webhook never holds `run_finish`'s locks.

Transitions are recorded as AlertEvents, not audit events: the audit trail is what people
(and the system acting for them, like an auto-pause) changed; alert transitions are
observations, many of them, and their deliveries hang off each one.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from django.db import IntegrityError, transaction

from runs.alerts.channels import target_key
from runs.alerts.models import Alert, AlertCause, AlertChannel, AlertDelivery, AlertEvent, AlertEventKind, AlertState

from schedules.notify import notify_alerts_due

log = structlog.get_logger("runs.alerts")


def _queue_deliveries(event: AlertEvent, *, now: datetime, send_at: datetime) -> list[AlertDelivery]:
    channels = AlertChannel.objects.filter(org_id=event.alert.org_id)
    rows = [AlertDelivery(event=event, channel=channel, next_attempt_at=send_at, created_at=now) for channel in channels]
    return AlertDelivery.objects.bulk_create(rows)


def _event(alert: Alert, kind: str, *, detail: str, now: datetime, send_at: datetime | None = None) -> AlertEvent:
    event = AlertEvent.objects.create(alert=alert, kind=kind, at=now, detail=detail)
    _queue_deliveries(event, now=now, send_at=send_at or now)
    log.info("alert." + kind, alert_id=str(alert.pk), org=alert.org_id, cause=alert.cause, schedule_id=str(alert.schedule_id or ""))
    return event


def alert_raise(*, org_id: int, cause: str, schedule_id=None, detail: str, now: datetime) -> Alert | None:
    """Raise (open) the alert for this cause; None when one is open already (it stays as it is).

    The insert is the claim: the partial unique constraint refuses a second open row, so of
    two racing writers (two replicas, two finishing runs) exactly one opens it. The savepoint
    keeps the caller's transaction usable after the refusal.
    """
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                org_id=org_id, cause=cause, schedule_id=schedule_id, state=AlertState.OPEN, opened_at=now, detail=detail
            )
    except IntegrityError:
        return None
    _event(alert, AlertEventKind.OPENED, detail=detail, now=now)
    return alert


def alert_update(*, alert: Alert, detail: str, now: datetime) -> Alert:
    """New words on an open alert (e.g. "the schedule paused itself"), told to its channels."""
    Alert.objects.filter(pk=alert.pk).update(detail=detail)
    alert.detail = detail
    _event(alert, AlertEventKind.UPDATED, detail=detail, now=now)
    return alert


def alerts_resolve(alerts, *, detail: str, now: datetime) -> list[Alert]:
    """Resolve the open alerts of the queryset `alerts`; returns the ones this call resolved.

    Conditional on `state=open`, row by row, so two resolvers racing resolve each once.
    """
    resolved = []
    for alert in alerts.filter(state=AlertState.OPEN).select_related("org"):
        if Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(state=AlertState.RESOLVED, resolved_at=now):
            alert.state, alert.resolved_at = AlertState.RESOLVED, now
            _event(alert, AlertEventKind.RESOLVED, detail=detail, now=now)
            resolved.append(alert)
    return resolved


def alert_send_test(*, org, now: datetime) -> AlertEvent:
    """A `test` alert to the org's channels, queued to send now; returns its event.

    The alert is opened and resolved at once (it has no cause that lasts). Its deliveries go
    through the outbox like any other (the scheduler sends them: the page that asked only
    shows their progress, `runs.selectors.delivery_progress`), one per distinct target: two channels naming
    one address get one message. A NOTIFY on commit wakes the scheduler's alerts step.
    """
    detail = "Test alert: if you can read this, this channel works."
    with transaction.atomic():
        alert = Alert.objects.create(
            org=org, cause=AlertCause.TEST, state=AlertState.RESOLVED, opened_at=now, resolved_at=now, detail=detail
        )
        event = AlertEvent.objects.create(alert=alert, kind=AlertEventKind.OPENED, at=now, detail=detail)
        seen, rows = set(), []
        for channel in AlertChannel.objects.filter(org=org).order_by("name", "id"):
            key = target_key(channel.kind, channel.target)
            if key not in seen:
                seen.add(key)
                rows.append(AlertDelivery(event=event, channel=channel, next_attempt_at=now, created_at=now))
        AlertDelivery.objects.bulk_create(rows)
        transaction.on_commit(notify_alerts_due)
    log.info("alert.test", alert_id=str(alert.pk), org=org.pk, deliveries=len(rows))
    return event

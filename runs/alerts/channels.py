"""Alert channels of an org: add, change, remove (audited; the secret never enters the trail)."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from config.errors import MissingPermission
from runs.alerts.delivery import AddressRefused, HostUnresolved, check_webhook_url
from runs.alerts.models import AlertChannel, ChannelKind
from schedules.permissions import ALL_PERMISSIONS, Grants

# Channels decide where an org's alerts go (and a test alert calls them): the org's admins
# only. Held by whoever holds every schedules permission on the whole org: the admin role,
# a superuser.
MANAGE = "alerts:manage"


def can_manage(grants: Grants, org) -> bool:
    return ALL_PERMISSIONS <= grants.for_org(org.pk)


def check_manage(grants: Grants, org) -> None:
    if not can_manage(grants, org):
        raise MissingPermission(MANAGE)

FIELDS = ("kind", "name", "target", "secret")


def _snapshot(channel: AlertChannel) -> dict:
    # The secret signs every webhook: the audit trail (which the org reads) says only that it changed.
    return {"kind": channel.kind, "name": channel.name, "target": channel.target, "secret": "***" if channel.secret else ""}


def _validate(channel: AlertChannel) -> None:
    errors = {}
    if channel.kind not in ChannelKind.values:
        errors["kind"] = "choose webhook or e-mail"
    if not channel.name.strip():
        errors["name"] = "give the channel a name, e.g. 'On-call webhook'"
    if channel.kind == ChannelKind.WEBHOOK:
        try:
            check_webhook_url(channel.target)
        except HostUnresolved:
            pass  # maybe DNS is down for a moment: every send checks again, and says so
        except AddressRefused as exc:
            errors["target"] = str(exc)
        if not channel.secret:
            # Every webhook is signed: one is made when none is given (shown on the page).
            channel.secret = secrets.token_urlsafe(24)
    elif channel.kind == ChannelKind.EMAIL:
        try:
            validate_email(channel.target)
        except ValidationError:
            errors["target"] = f"'{channel.target}' is not an e-mail address, e.g. ops@example.com"
        channel.secret = ""
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def channel_create(*, actor: Actor, org, data: dict, now: datetime) -> AlertChannel:
    channel = AlertChannel(org=org, created_at=now, updated_at=now, **{k: data.get(k, "") for k in FIELDS})
    _validate(channel)
    channel.save(force_insert=True)
    audit.record(actor=actor, org=org, action=AuditAction.CREATE, target=channel, now=now, after=_snapshot(channel))
    return channel


@transaction.atomic
def channel_update(*, actor: Actor, channel: AlertChannel, data: dict, now: datetime) -> AlertChannel:
    channel = AlertChannel.objects.select_for_update().get(pk=channel.pk)
    before = _snapshot(channel)
    old_secret = channel.secret
    for name in FIELDS:
        if name in data and not (name == "secret" and not data[name]):  # a blank secret keeps the old one
            setattr(channel, name, data[name])
    _validate(channel)
    channel.updated_at = now
    channel.save()
    after = _snapshot(channel)
    if channel.secret != old_secret:
        before["secret"], after["secret"] = "***", "*** (changed)"
    audit.record_update(actor=actor, org=channel.org, target=channel, now=now, before=before, after=after)
    return channel


@transaction.atomic
def channel_delete(*, actor: Actor, channel: AlertChannel, now: datetime) -> None:
    audit.record(actor=actor, org=channel.org, action=AuditAction.DELETE, target=channel, now=now, before=_snapshot(channel))
    channel.delete()

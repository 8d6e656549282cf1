"""Alert channels of an org: add, change, remove (audited; neither the secret nor a full
webhook URL enters the trail: a webhook URL is often the credential itself).

An org has at most ALERT_MAX_CHANNELS_PER_ORG channels, and no two with the same target
(`target_key`): a test alert to a dozen channels that all name one victim's address would
make the scheduler a mail cannon.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from config.errors import MissingPermission
from config.redact import mask_target
from runs.alerts.delivery import AddressRefused, HostUnresolved, check_webhook_url
from runs.alerts.models import AlertChannel, ChannelKind
from schedules.models import Organization
from schedules.permissions import Grants

# Channels decide where an org's alerts go (and a test alert calls them): the org's admins
# only. Held by whoever holds every schedules permission on the whole org: the admin role,
# a superuser.
MANAGE = "alerts:manage"


def can_manage(grants: Grants, org) -> bool:
    return grants.is_admin(org.pk)


def check_manage(grants: Grants, org) -> None:
    if not can_manage(grants, org):
        raise MissingPermission(MANAGE)

FIELDS = ("kind", "name", "target", "secret")


def shown_target(channel: AlertChannel, *, manage: bool) -> str:
    """The target as this person may see it: whole for who manages channels, else masked."""
    return channel.target if manage else mask_target(channel.target)


def target_key(kind: str, target: str) -> str:
    """Two targets with the same key reach the same place: an e-mail address in any case, a
    URL whatever the case of its scheme and host."""
    target = (target or "").strip()
    if kind == ChannelKind.EMAIL:
        return f"email:{target.lower()}"
    try:
        parts = urlsplit(target)
        return f"url:{parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()}"
    except ValueError:
        return f"url:{target}"


def _snapshot(channel: AlertChannel) -> dict:
    # The secret signs every webhook, and a webhook URL is often a credential of its own: the
    # audit trail (which the whole org reads) holds neither, only the masked form.
    return {"kind": channel.kind, "name": channel.name, "target": mask_target(channel.target), "secret": "***" if channel.secret else ""}


def _check_room(channel: AlertChannel) -> None:
    """At most ALERT_MAX_CHANNELS_PER_ORG channels, none with another's target. The caller
    holds the org's row lock, so two adds at once cannot both pass."""
    others = AlertChannel.objects.filter(org_id=channel.org_id).exclude(pk=channel.pk)
    key = target_key(channel.kind, channel.target)
    clash = next((other for other in others if target_key(other.kind, other.target) == key), None)
    if clash is not None:
        raise ValidationError({"target": _("the channel “%(name)s” already sends to this address") % {"name": clash.name}})
    limit = settings.ALERT_MAX_CHANNELS_PER_ORG
    if channel.pk is None and others.count() >= limit:
        raise ValidationError(
            {"target": _("an organization has at most %(limit)d alert channels: remove one first") % {"limit": limit}}
        )


def _lock_org(org_id) -> None:
    Organization.objects.select_for_update().filter(pk=org_id).values_list("pk", flat=True).first()


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
    _check_room(channel)


@transaction.atomic
def channel_create(*, actor: Actor, org, data: dict, now: datetime) -> AlertChannel:
    channel = AlertChannel(org=org, created_at=now, updated_at=now, **{k: data.get(k, "") for k in FIELDS})
    _lock_org(org.pk)
    _validate(channel)
    channel.save(force_insert=True)
    audit.record(actor=actor, org=org, action=AuditAction.CREATE, target=channel, now=now, after=_snapshot(channel))
    return channel


@transaction.atomic
def channel_update(*, actor: Actor, channel: AlertChannel, data: dict, now: datetime) -> AlertChannel:
    _lock_org(channel.org_id)
    channel = AlertChannel.objects.select_for_update().get(pk=channel.pk)
    before = _snapshot(channel)
    old_secret, old_target = channel.secret, channel.target
    for name in FIELDS:
        if name in data and not (name == "secret" and not data[name]):  # a blank secret keeps the old one
            setattr(channel, name, data[name])
    _validate(channel)
    channel.updated_at = now
    channel.save()
    after = _snapshot(channel)
    if channel.secret != old_secret:
        before["secret"], after["secret"] = "***", "*** (changed)"
    if channel.target != old_target and before["target"] == after["target"]:
        after["target"] += " (changed)"  # a new path on the same host: masked alike, still said
    audit.record_update(actor=actor, org=channel.org, target=channel, now=now, before=before, after=after)
    return channel


@transaction.atomic
def channel_delete(*, actor: Actor, channel: AlertChannel, now: datetime) -> None:
    audit.record(actor=actor, org=channel.org, action=AuditAction.DELETE, target=channel, now=now, before=_snapshot(channel))
    channel.delete()

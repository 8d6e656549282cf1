"""The one entry point that writes the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from audit.models import AuditAction, AuditEvent
from config.middleware import client_ip


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where: carried from the request into every audited write."""

    user: object | None = None  # a User, or None for the system (the scheduler)
    request_id: str = ""
    client_ip: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls()

    @classmethod
    def from_request(cls, request) -> Actor:
        user = request.user if getattr(request.user, "is_authenticated", False) else None
        return cls(user=user, request_id=getattr(request, "id", ""), client_ip=client_ip(request))

    @property
    def label(self) -> str:
        return self.user.get_username() if self.user is not None else "system"


def target_type_of(model) -> str:
    """The name events give a target of `model`: the model's `audit_target_type` when it
    declares one (a schedule run is a 'run'), else the model's name. The app that owns a model
    says how the trail names it, so audit names no other app's model."""
    return getattr(model, "audit_target_type", model._meta.model_name)


def record(
    *,
    actor: Actor,
    org,
    action: str,
    target,
    now: datetime,
    before: dict | None = None,
    after: dict | None = None,
    schedule_id=None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the write it describes.

    `schedule_id` defaults to the target's schedule (a run's) or the target itself when it
    is a schedule; events about orgs, memberships and agents have none.
    """
    target_type = target_type_of(target._meta.model)
    if schedule_id is None:
        schedule_id = getattr(target, "schedule_id", None)
        if schedule_id is None and target_type == "schedule":
            schedule_id = target.pk
    return AuditEvent.objects.create(
        org=org,
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=str(target.pk),
        schedule_id=schedule_id,
        before=before,
        after=after,
        request_id=actor.request_id,
        client_ip=actor.client_ip,
        created_at=now,
    )


def record_update(*, actor: Actor, org, target, now: datetime, before: dict, after: dict) -> AuditEvent | None:
    """An `update` event carrying only the fields whose values changed; none when nothing did."""
    changed = [name for name in after if after[name] != before.get(name)]
    if not changed:
        return None
    return record(
        actor=actor,
        org=org,
        action=AuditAction.UPDATE,
        target=target,
        now=now,
        before={name: before.get(name) for name in changed},
        after={name: after[name] for name in changed},
    )

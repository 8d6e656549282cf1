"""Writes to organizations, memberships and agents, each audited like a schedule change.

Who belongs to an org, with which role, decides what they may read and run; such a change
must leave a trace as much as an edited schedule does. Every writer (the admin, its inlines,
`seed_demo`) goes through these functions, which save the row and record who changed which
fields, in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models, transaction

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from schedules import budgets
from schedules.models import Agent, Membership, Organization


def _organization_fields(org: Organization) -> dict:
    cost = org.monthly_cost_budget_usd
    return {
        "slug": org.slug, "name": org.name, "max_concurrent_runs": org.max_concurrent_runs, "timezone": org.timezone,
        "monthly_token_budget": org.monthly_token_budget, "monthly_cost_budget_usd": None if cost is None else str(cost),
    }


def _membership_fields(membership: Membership) -> dict:
    return {
        "user": membership.user.get_username() if membership.user_id else None,
        "org": membership.org.slug if membership.org_id else None,
        "role": membership.role,
    }


def _agent_fields(agent: Agent) -> dict:
    return {
        "org": agent.org.slug if agent.org_id else None,
        "slug": agent.slug,
        "name": agent.name,
        "description": agent.description,
        "enabled": agent.enabled,
    }


_FIELDS = {Organization: _organization_fields, Membership: _membership_fields, Agent: _agent_fields}


def _org_of(obj: models.Model) -> Organization | None:
    return obj if isinstance(obj, Organization) else obj.org


def tenancy_save(*, actor: Actor, obj: models.Model, now: datetime) -> models.Model:
    """Save an Organization, Membership or Agent and record create, or update with the changed fields."""
    fields = _FIELDS[type(obj)]
    with transaction.atomic():
        # No row lock: two support staff editing one org at once is rare, and an org row lock
        # would stall every foreign-key check on it (schedule creates, runs, audit inserts).
        stored = type(obj).objects.filter(pk=obj.pk).first() if obj.pk else None
        before = fields(stored) if stored is not None else None
        obj.save()
        after = fields(obj)
        if isinstance(obj, Organization) and before is not None:
            # A raised (or lowered) budget, or a new zone, takes effect at the next firing pass.
            budgets.refresh(org=obj, now=now)
        if before is None:
            audit.record(actor=actor, org=_org_of(obj), action=AuditAction.CREATE, target=obj, now=now, after=after)
            return obj
        audit.record_update(actor=actor, org=_org_of(obj), target=obj, now=now, before=before, after=after)
    return obj


def tenancy_delete(*, actor: Actor, obj: models.Model, now: datetime) -> None:
    with transaction.atomic():
        # Recorded first, with the org: deleting an org detaches its events (org set null),
        # and `before` keeps its slug readable.
        audit.record(
            actor=actor, org=_org_of(obj), action=AuditAction.DELETE, target=obj, now=now, before=_FIELDS[type(obj)](obj)
        )
        obj.delete()


def organization_save(*, actor: Actor, org: Organization, now: datetime) -> Organization:
    return tenancy_save(actor=actor, obj=org, now=now)


def membership_save(*, actor: Actor, membership: Membership, now: datetime) -> Membership:
    return tenancy_save(actor=actor, obj=membership, now=now)


def agent_save(*, actor: Actor, agent: Agent, now: datetime) -> Agent:
    return tenancy_save(actor=actor, obj=agent, now=now)


AUDITED_MODELS = tuple(_FIELDS)

"""The one way tests build data: small builder functions.

Schedules are built through the real service (so next_run_at and audit are as in
production) unless a test needs a raw row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.contrib.auth import get_user_model

from audit.services import Actor
from schedules.models import Agent, Membership, Organization
from schedules.services import schedule_create

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)


def make_org(slug: str = "acme", **fields) -> Organization:
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": slug.title(), **fields})
    return org


def make_agent(org: Organization, slug: str = "echo", **fields) -> Agent:
    agent, _ = Agent.objects.get_or_create(org=org, slug=slug, defaults={"name": slug.title(), **fields})
    return agent


def make_user(username: str, org: Organization | None = None, role: str = "viewer", **fields):
    User = get_user_model()
    user = User.objects.create_user(username=username, password="pw-" + username, **fields)
    if org is not None:
        Membership.objects.create(user=user, org=org, role=role)
    return user


def make_schedule(org: Organization, agent: Agent | None = None, *, now: datetime = T0, actor=None, **data):
    data.setdefault("name", "Nightly report")
    data.setdefault("prompt", "Summarise yesterday's sales")
    data.setdefault("schedule_type", "cron")
    if data["schedule_type"] == "cron":
        data.setdefault("cron_expression", "0 9 * * *")
    data["agent"] = agent or make_agent(org)
    return schedule_create(actor=actor or Actor.system(), org=org, data=data, now=now)

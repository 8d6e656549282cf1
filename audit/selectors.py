"""Reads of the audit trail that the API (`audit/api.py`) and the audit page share.

Visibility is the schedules' rule (`schedules.permissions`): an event is readable when its
org's schedules are, or when it is about a schedule the person holds a grant on. Events of a
deleted org (org null) are only for those who see everything. The filters are one function,
so `?actor=eddie` means the same thing on the page and in the API.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent
from config.redact import mask_target
from schedules import permissions


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    """Every event `user` may read, with its org loaded, newest first."""
    return permissions.restrict(
        AuditEvent.objects.select_related("org"), user, permissions.READ, org_field="org_id", schedule_field="schedule_id"
    ).order_by("-created_at", "-id")


def shown_changes(event: AuditEvent) -> tuple[dict | None, dict | None]:
    """(before, after) as the page and the API show them: an alert channel's target masked.

    Events written since channels were masked store the masked form already; older ones are
    masked here, so no reader of the trail sees a webhook URL (often a credential)."""
    if event.target_type != "alertchannel":
        return event.before, event.after

    def masked(values):
        if not values or "target" not in values:
            return values
        target = str(values["target"])
        changed = " (changed)" if target.endswith(" (changed)") else ""
        return {**values, "target": mask_target(target.removesuffix(changed)) + changed}

    return masked(event.before), masked(event.after)


def audit_events_filter(
    queryset: QuerySet[AuditEvent],
    *,
    schedule: uuid.UUID | None = None,
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Narrow `queryset`: one schedule's events, one actor's (a username, or 'system'), one
    action, and the half-open time range [since, until). Empty values do not filter."""
    if schedule is not None:
        queryset = queryset.filter(schedule_id=schedule)
    if actor:
        queryset = queryset.filter(actor_label=actor)
    if action:
        queryset = queryset.filter(action=action)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


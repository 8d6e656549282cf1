"""Reads of the audit trail that the API (`audit/api.py`) and the audit page share.

Visibility is the schedules' rule (`schedules.permissions`): an event is readable when its
org's schedules are, or when it is about a schedule the person holds a grant on. Events of a
deleted org (org null) are only for those who see everything. The filters are one function,
so `?actor=eddie` means the same thing on the page and in the API.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime

from django.apps import apps
from django.db.models import QuerySet

from audit.models import AuditEvent
from audit.services import target_type_of
from schedules import permissions


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    """Every event `user` may read, with its org loaded, newest first."""
    return permissions.restrict(
        AuditEvent.objects.select_related("org"), user, permissions.READ, org_field="org_id", schedule_field="schedule_id"
    ).order_by("-created_at", "-id")


@functools.cache
def _shown_by_target_type() -> dict[str, Callable[[dict | None], dict | None]]:
    """target type -> its model's `audit_shown`, for the models that declare one."""
    return {target_type_of(model): model.audit_shown for model in apps.get_models() if hasattr(model, "audit_shown")}


def shown_changes(event: AuditEvent) -> tuple[dict | None, dict | None]:
    """(before, after) as the page and the API show them.

    A model whose stored values must not be shown as written declares `audit_shown(values)`
    (an alert channel masks its target, often a credential); audit applies it by the event's
    target type without naming the model."""
    shown = _shown_by_target_type().get(event.target_type)
    if shown is None:
        return event.before, event.after
    return shown(event.before), shown(event.after)


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


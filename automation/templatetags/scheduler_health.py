"""The base layout's "Schedules are late" banner (runs/alerts/stall.py decides)."""

from __future__ import annotations

from django import template

from config import clock
from runs.alerts.stall import late_banner

register = template.Library()


@register.simple_tag(takes_context=True)
def scheduler_late(context, workspace):
    """None, or what the banner says, for the workspace's org. One query, at most once per
    request and org (a page that renders the layout twice asks once; another org asks again)."""
    request = context.get("request")
    org = getattr(workspace, "org", None)
    if request is None or org is None:
        return None
    cache = request.__dict__.setdefault("_scheduler_late", {})
    if org.pk not in cache:
        cache[org.pk] = late_banner(org, now=clock.now())
    return cache[org.pk]

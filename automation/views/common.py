"""What every page view shares: fragment choice for HTMX, redirects back, HTMX events."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from runs.models import ACTIVE_STATUSES, RETRYABLE_STATUSES

# HTMX events the pages send (HX-Trigger) and listen to (hx-trigger="... from:body").
SCHEDULE_SAVED = "schedule:saved"  # a schedule was created, changed, enabled, disabled or deleted
RUNS_CHANGED = "runs:changed"  # a run-now or a retry queued a run, or disabling canceled some
DIALOG_CLOSE = "dialog:close"  # close the open modal <dialog>


def fragment_request(request) -> bool:
    """An HTMX request that swaps part of a page (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_page(request, template: str, context: dict, *, fragments: dict[str, str] | None = None, status=200):
    """The whole page, or for an HTMX request the named fragment its target (HX-Target) asks for."""
    name = (fragments or {}).get(request.htmx.target or "") if fragment_request(request) else None
    response = render(request, f"{template}#{name}" if name else template, context, status=status)
    # The same URL answers a page or a fragment: caches must keep them apart, or the back
    # button could show a bare fragment.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def done(request, default: str, *events: str, location: str | None = None):
    """After an action: for HTMX, 204 with the events that make the page refresh itself (and
    an HX-Location to go to `location`); for a plain form post, a redirect back."""
    if not request.htmx:
        return redirect(location or safe_next(request, default))
    response = HttpResponse(status=204)
    if events:
        response["HX-Trigger"] = json.dumps({event: True for event in events})
    if location:
        response["HX-Location"] = json.dumps({"path": location, "target": "#main"})
    return response


def decorate_run(run, schedule, workspace, *, can_run: bool):
    """What a runs panel row shows that depends on who looks (the panel's own rows; the
    table's are `automation.rows.ScheduleRow`)."""
    run.view_zone = workspace.zone_for(schedule.timezone)
    run.active = run.status in ACTIVE_STATUSES
    run.can_retry = can_run and run.status in RETRYABLE_STATUSES
    return run

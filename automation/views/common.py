"""What every page view shares: fragment choice for HTMX, redirects back, HTMX events."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from runs.models import ACTIVE_STATUSES, RETRYABLE_STATUSES
from schedules.permissions import DELETE, RUN, WRITE

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


# A row's links, by the name the template uses -> URL name. Fifty rows reversing six URLs
# each was a fifth of the table's render time: each is reversed once and the pk put in.
ROW_URLS = {
    "detail": "schedule", "edit": "schedule-edit", "enable": "schedule-enable",
    "disable": "schedule-disable", "run_now": "schedule-run-now", "delete": "schedule-delete",
}
_PLACEHOLDER = str(uuid.UUID(int=0))


@lru_cache(maxsize=8)
def _row_url_patterns(script_prefix: str) -> dict[str, str]:
    return {key: reverse(f"automation:{name}", args=[_PLACEHOLDER]) for key, name in ROW_URLS.items()}


def row_urls(pk) -> dict[str, str]:
    """The row's links, as `reverse` would answer them (under the current script prefix)."""
    return {key: url.replace(_PLACEHOLDER, str(pk)) for key, url in _row_url_patterns(get_script_prefix()).items()}


def decorate_schedule(schedule, workspace):
    """What a row shows that depends on who looks: controls and the zone of its times."""
    schedule.urls = row_urls(schedule.pk)
    schedule.urls["switch"] = schedule.urls["disable" if schedule.enabled else "enable"]
    schedule.view_zone = workspace.zone_for(schedule.timezone)
    schedule.can_write = workspace.can(WRITE, schedule)
    schedule.can_run = workspace.can(RUN, schedule)
    schedule.can_delete = workspace.can(DELETE, schedule)
    return schedule


def decorate_run(run, schedule, workspace, *, can_run: bool):
    run.view_zone = workspace.zone_for(schedule.timezone)
    run.active = run.status in ACTIVE_STATUSES
    run.can_retry = can_run and run.status in RETRYABLE_STATUSES
    return run

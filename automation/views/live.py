"""The watcher's poll (automation/live.py): the runs' state now, and `runs:changed` when it
differs from the state the page was rendered with."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from automation.errors import page_errors
from automation.live import runs_state
from automation.views.common import RUNS_CHANGED
from automation.workspace import workspace_for
from config import clock

TEMPLATE = "automation/watch.html"


def watch_context(workspace, *, now) -> dict:
    """What the table renders its watcher with: the state now and the URL to ask again."""
    if workspace.org is None:
        return {}
    state = runs_state(workspace.grants, workspace.org, now=now)
    return {"watch": state, "watch_url": f"{reverse('automation:runs-watch')}?org={workspace.org.slug}&seen={state.token}"}


@require_GET
@login_required
@page_errors
def runs_watch(request):
    workspace = workspace_for(request)
    context = watch_context(workspace, now=clock.now())
    response = render(request, TEMPLATE, context)
    if context and request.GET.get("seen", "") != context["watch"].token:
        response["HX-Trigger"] = json.dumps({RUNS_CHANGED: True})
    response["Cache-Control"] = "no-store"
    return response

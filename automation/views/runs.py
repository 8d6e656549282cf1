"""The runs panel (region "Runs") of one schedule, its "Load more", and Retry."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from automation import selectors
from automation.errors import page_errors
from automation.limits import starts_runs
from automation.live import DUE_SOON
from automation.views.common import RUNS_CHANGED, decorate_run, done, fragment_request, render_page
from automation.workspace import workspace_for
from config import clock
from runs.services import manual as run_manual
from runs.selectors import get_run_for  # the API's run lookup: the same visibility rule
from schedules import budgets
from schedules.permissions import READ, RUN
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/runs.html"


def runs_context(request, workspace, schedule, *, cursor: str = "") -> dict:
    page = selectors.runs_page(schedule, cursor=cursor)
    can_run = workspace.can(RUN, schedule)
    for run in page.rows:
        decorate_run(run, schedule, workspace, can_run=can_run)
    now = clock.now()
    # The page's watcher (automation/live.py) refreshes the panel while a run is queued or
    # running, and while the next run is due within a minute: the panel says so.
    due_soon = schedule.next_run_at is not None and schedule.next_run_at <= now + DUE_SOON
    return {
        "schedule": schedule,
        "runs": page,
        "runs_live": due_soon or any(run.active for run in page.rows),
        "runs_url": reverse("automation:schedule-runs", args=[schedule.pk]),
        "now": now,
        "workspace": workspace,
        "budget": budget_context(schedule, now),
    }


def budget_context(schedule, now) -> dict:
    """This month's usage of the schedule and its org, beside their budgets (runs panel)."""
    return {
        "schedule": budgets.this_month(org=schedule.org, schedule=schedule, now=now),
        "org": budgets.this_month(org=schedule.org, now=now),
        "org_row": schedule.org,
    }


@require_GET
@login_required
@page_errors
def schedule_runs(request, pk):
    """The panel (it refreshes itself through this), or with `cursor` the next rows."""
    schedule = get_schedule_for(request.user, pk, READ)
    if not fragment_request(request):
        return redirect("automation:schedule", pk=schedule.pk)
    workspace = workspace_for(request, org=schedule.org)
    cursor = request.GET.get("cursor", "")
    context = runs_context(request, workspace, schedule, cursor=cursor)
    return render_page(request, f"{TEMPLATE}#{'more' if cursor else 'panel'}", context)


@require_POST
@login_required
@page_errors
@starts_runs
def run_retry(request, pk):
    run = get_run_for(request.user, pk, RUN)
    run_manual.run_retry(actor=Actor.from_request(request), run=run, now=clock.now())
    return done(request, reverse("automation:schedule", args=[run.schedule_id]), RUNS_CHANGED)

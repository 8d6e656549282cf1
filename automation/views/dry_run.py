""""Preview the next run" in the editor (/automation/schedules/<id>/dry-run/): what the plane
would receive for the saved schedule's next occurrence, from the same service as the API's
`POST /api/v1/schedules/{id}/dry-run/`. It creates nothing."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_http_methods

from automation.errors import page_errors
from automation.views.common import render_page
from config import clock
from runs.services.dry_run import schedule_dry_run
from schedules.permissions import READ
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/dry_run.html"


@require_http_methods(["GET", "POST"])
@login_required
@page_errors
def schedule_dry_run_page(request, pk):
    schedule = get_schedule_for(request.user, pk, READ)
    result = schedule_dry_run(schedule=schedule, now=clock.now())
    context = {
        "schedule": schedule,
        "result": result,
        "request_json": json.dumps(result["request"], indent=2, ensure_ascii=False),
    }
    return render_page(request, TEMPLATE, context, fragments={"schedule-dry-run": "result"})

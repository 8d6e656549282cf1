""""Why didn't it run?" for one schedule (/automation/schedules/<id>/why/) and its
"Backfill these" button.

The report is `runs.why`'s, the backfill `runs.services.backfill`'s (the same service as the
command and the API). The range is in the URL, read and shown in the viewer's zone (the
schedule's own unless the viewer chose one); it defaults to the last 24 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from automation.datetimes import read_local, wall_text
from automation.errors import page_errors
from automation.limits import starts_runs
from automation.rows import schedule_row
from automation.views.common import render_page
from automation.workspace import workspace_for
from config import clock
from runs.services.backfill import schedule_backfill
from runs.why import schedule_occurrence_report
from schedules.permissions import READ, RUN
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/why.html"
DEFAULT_RANGE = timedelta(hours=24)


def _range(request, zone: str, now: datetime) -> tuple[datetime, datetime]:
    source = request.POST if request.method == "POST" else request.GET
    end = read_local(source["to"], zone, "to") if source.get("to") else now
    start = read_local(source["from"], zone, "from") if source.get("from") else end - DEFAULT_RANGE
    if end <= start:
        raise ValidationError({"to": [_("The end of the range must be after its start.")]})
    if end - start > timedelta(days=settings.BACKFILL_MAX_DAYS):
        raise ValidationError(
            {"to": [_("The range may span at most %(days)s days.") % {"days": settings.BACKFILL_MAX_DAYS}]}
        )
    return start, end


def _local(value: datetime, zone: str) -> str:
    return wall_text(value.replace(second=0, microsecond=0), zone)


@require_GET
@login_required
@page_errors
def schedule_why(request, pk):
    schedule = get_schedule_for(request.user, pk, READ)
    workspace = workspace_for(request, org=schedule.org)
    row = schedule_row(schedule, workspace)
    zone = row.zone
    now = clock.now()
    start, end = _range(request, zone, now)
    report = schedule_occurrence_report(schedule=schedule, start=start, end=end, now=now)
    context = {
        "workspace": workspace,
        "schedule": schedule,
        "row": row,
        "zone": zone,
        "now": now,
        "report": report,
        "from_local": _local(start, zone),
        "to_local": _local(end, zone),
        "can_backfill": row.can_run and report.backfillable > 0,
    }
    return render_page(request, TEMPLATE, context)


@require_POST
@login_required
@page_errors
@starts_runs
def schedule_backfill_missing(request, pk):
    """Run the missing occurrences of the shown range (the same service as the API)."""
    schedule = get_schedule_for(request.user, pk, RUN)
    now = clock.now()
    start, end = _range(request, "UTC", now)
    result = schedule_backfill(
        schedule=schedule, start=start, end=min(end, now), actor=Actor.from_request(request), now=now
    )
    queued = len(result.runs)
    text = ngettext("Queued %(n)s run.", "Queued %(n)s runs.", queued) % {"n": queued}
    if result.remaining:
        text += " " + _("%(n)s more are left: press “Backfill these” again.") % {"n": result.remaining}
    messages.success(request, text)
    query = urlencode({"from": request.POST.get("from", ""), "to": request.POST.get("to", "")})
    return redirect(f"{reverse('automation:schedule-why', args=[schedule.pk])}?{query}")

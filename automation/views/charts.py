"""The 24-hour runs chart: for the org above the schedules table, and per schedule in its runs
panel. Both load lazily (HTMX `load`), so neither the table nor the panel waits for it.

The numbers are the API's (`runs.metrics.summary`, the same selector and visibility rule);
this module only lays them out as SVG, with a table beside it for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.views.decorators.http import require_GET

from automation.errors import page_errors
from automation.summary_cache import org_summary
from automation.formatting import in_zone, offset_label
from automation.views.common import fragment_request, render_page
from automation.workspace import workspace_for
from config import clock
from runs.metrics.summary import Summary, runs_summary, summary_runs_for
from schedules.permissions import READ
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/chart.html"
WINDOW = "24h"
# The drawing, in SVG user units (it scales to the width it gets).
WIDTH, HEIGHT = 600, 160
LEFT, RIGHT, TOP, BOTTOM = 36, 44, 8, 22
LABEL_EVERY = 6  # hours between x-axis labels


@dataclass
class Bar:
    label: str  # the hour in the viewer's zone, e.g. "14:00" (the axis)
    full_label: str  # with its date, e.g. "2026-12-01 14:00" (the table: 25 hours repeat one)
    x: float
    width: float
    succeeded: int
    failed: int
    succeeded_y: float
    succeeded_h: float
    failed_y: float
    failed_h: float
    p95: float | None
    show_label: bool


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart_layout(summary: Summary, zone: str) -> dict:
    """Bars (succeeded below failed), the p95 polyline on its own right-hand scale, axis labels."""
    hours = summary.hours
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(hours))
    top_count = _nice_ceiling(max((h.succeeded + h.failed for h in hours), default=0))
    top_seconds = _nice_ceiling(max((h.p95_seconds or 0 for h in hours), default=0))
    baseline = TOP + plot_h
    bars, points = [], []
    for i, hour in enumerate(hours):
        local = in_zone(hour.start, zone)
        ok_h = plot_h * hour.succeeded / top_count
        failed_h = plot_h * hour.failed / top_count
        x = LEFT + i * slot
        bars.append(
            Bar(
                label=local.strftime("%H:%M"), full_label=local.strftime("%Y-%m-%d %H:%M"), x=round(x + slot * 0.15, 1), width=round(slot * 0.7, 1),
                succeeded=hour.succeeded, failed=hour.failed,
                succeeded_y=round(baseline - ok_h, 1), succeeded_h=round(ok_h, 1),
                failed_y=round(baseline - ok_h - failed_h, 1), failed_h=round(failed_h, 1),
                p95=hour.p95_seconds, show_label=i % LABEL_EVERY == 0,
            )
        )
        if hour.p95_seconds is not None:
            points.append(f"{x + slot / 2:.1f},{baseline - plot_h * hour.p95_seconds / top_seconds:.1f}")
    zone_label = zone or "UTC"
    return {
        "summary": summary,
        "bars": bars,
        "p95_points": " ".join(points),
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right_x": WIDTH - RIGHT,
        "top": TOP,
        "baseline": baseline,
        "label_y": HEIGHT - 6,
        "top_count": int(top_count),
        "top_seconds": top_seconds,
        "zone": zone_label,
        "offset": offset_label(in_zone(summary.until, zone_label)),
        "any_runs": any(b.succeeded or b.failed for b in bars),
    }


def _render(request, context: dict):
    """The section for HTMX (its lazy load, its refresh); a whole page without JavaScript."""
    return render_page(request, f"{TEMPLATE}#chart" if fragment_request(request) else TEMPLATE, context)


@require_GET
@login_required
@page_errors
def org_chart(request):
    """The org's chart (org from the URL or the session, as the table's)."""
    workspace = workspace_for(request)
    if workspace.org is None:
        return _render(request, {"empty_org": True, "workspace": workspace, "chart_id": "org-chart"})
    summary = org_summary(request.user, workspace, now=clock.now())
    zone = workspace.viewer_zone or "UTC"
    context = chart_layout(summary, zone)
    context.update(
        workspace=workspace,
        chart_id="org-chart",
        title_for=workspace.org.name,
        url=reverse("automation:org-chart") + f"?org={workspace.org.slug}",
    )
    return _render(request, context)


@require_GET
@login_required
@page_errors
def schedule_chart(request, pk):
    schedule = get_schedule_for(request.user, pk, READ)
    workspace = workspace_for(request, org=schedule.org)
    summary = runs_summary(runs=summary_runs_for(request.user, schedule_id=schedule.pk), window=WINDOW, now=clock.now())
    context = chart_layout(summary, workspace.zone_for(schedule.timezone))
    context.update(
        workspace=workspace,
        chart_id=f"schedule-{schedule.pk}-chart",
        title_for=schedule.name,
        url=reverse("automation:schedule-chart", args=[schedule.pk]),
    )
    return _render(request, context)

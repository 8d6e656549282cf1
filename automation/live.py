"""One state on screen: what tells the schedules page that a run changed.

The table's rows, the org's 24-hour summary, the runs panel and its chart all show runs;
each refreshes on the one HTMX event `runs:changed`. Something must send it when a run
changes on its own (the scheduler starts it, the plane finishes it): a small watcher
element in the table polls `runs_state` while anything is due, queued or running, and the
answer carries `runs:changed` only when the state it saw differs from the state now. So the
parts refresh together, or not at all: none of them polls on its own (before, the runs
panel did, and showed "Succeeded" while the row beside it still said "Queued").

The state is a digest of the viewer's runs in the org: the newest run's creation time (a new
run, even one born finished), and how many runs are queued or running with the latest start
among them (a run that starts or ends). One query of small index reads, whatever the history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Max, QuerySet, Subquery

from runs.models import ACTIVE_STATUSES, ScheduleRun
from schedules.models import Organization, Schedule
from schedules.permissions import READ, Grants

# The watcher also polls while a schedule is due this soon, so the scheduler's run shows up.
DUE_SOON = timedelta(minutes=1)


@dataclass(frozen=True)
class RunsState:
    token: str  # the digest a page was rendered with
    live: bool  # something is due, queued or running: keep watching


def _visible(queryset: QuerySet, grants: Grants, org: Organization, *, schedule_field: str) -> QuerySet | None:
    """`queryset` narrowed to the org and to what the grants let the viewer read; None for nothing."""
    queryset = queryset.filter(org_id=org.pk)
    if READ in grants.for_org(org.pk):
        return queryset
    ids = grants.schedule_ids(READ)
    return queryset.filter(**{f"{schedule_field}__in": ids}) if ids else None


def runs_state(grants: Grants, org: Organization, *, now: datetime) -> RunsState:
    """The viewer's runs state in the org, in one query (a table render and each poll pay it)."""
    runs = _visible(ScheduleRun.objects.order_by(), grants, org, schedule_field="schedule_id")
    schedules = _visible(Schedule.objects.order_by(), grants, org, schedule_field="pk")
    if runs is None or schedules is None:
        return RunsState(token="", live=False)
    # Queued and running runs: how many, and the latest start among them. A run that starts
    # moves the latest start; one that ends lowers the count (or, as another starts in the same
    # moment, the start moves); a new run, even one born finished, is the newest.
    active = runs.filter(status__in=ACTIVE_STATUSES).values("org_id")
    state = Organization.objects.filter(pk=org.pk).values(
        newest=Subquery(runs.order_by("-created_at").values("created_at")[:1]),
        active=Subquery(active.annotate(n=Count("pk")).values("n")[:1]),
        latest_start=Subquery(active.annotate(at=Max("started_at")).values("at")[:1]),
        due=Exists(schedules.filter(enabled=True, next_run_at__lte=now + DUE_SOON)),
    ).get()
    digest = hashlib.blake2b(f"{state['newest']}|{state['active'] or 0}|{state['latest_start']}".encode(), digest_size=12)
    return RunsState(token=digest.hexdigest(), live=bool(state["active"]) or state["due"])

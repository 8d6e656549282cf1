"""One state on screen: what tells the schedules page that a run changed.

The table's rows, the org's 24-hour summary, the runs panel and its chart all show runs;
each refreshes on the one HTMX event `runs:changed`. Something must send it when a run
changes on its own (the scheduler starts it, the plane finishes it): a small watcher
element in the table polls `runs_state` while anything is due, queued or running, and the
answer carries `runs:changed` only when the state it saw differs from the state now. So the
parts refresh together, or not at all: none of them polls on its own (before, the runs
panel did, and showed "Succeeded" while the row beside it still said "Queued").

The state is a digest of the viewer's runs in the org: the newest run's creation time
(a new run, even one born finished) and each queued or running run with its status (a run
that starts or ends). Both come from small index reads, whatever the history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, QuerySet

from runs.models import ACTIVE_STATUSES, ScheduleRun
from schedules.models import Organization, Schedule
from schedules.permissions import READ, Grants

# The watcher also polls while a schedule is due this soon, so the scheduler's run shows up.
DUE_SOON = timedelta(minutes=1)
# Active runs read into the digest; beyond these, their count stands for the rest.
ACTIVE_MAX = 200


@dataclass(frozen=True)
class RunsState:
    token: str  # the digest a page was rendered with
    live: bool  # something is due, queued or running: keep watching


def _visible(queryset: QuerySet, grants: Grants, org: Organization, *, schedule_field: str) -> QuerySet | None:
    """`queryset` narrowed to the org and to what the grants let the viewer read; None for nothing."""
    queryset = queryset.filter(org=org)
    if READ in grants.for_org(org.pk):
        return queryset
    ids = grants.schedule_ids(READ)
    return queryset.filter(**{f"{schedule_field}__in": ids}) if ids else None


def runs_state(grants: Grants, org: Organization, *, now: datetime) -> RunsState:
    runs = _visible(ScheduleRun.objects.order_by(), grants, org, schedule_field="schedule_id")
    if runs is None:
        return RunsState(token="", live=False)
    newest = runs.aggregate(newest=Max("created_at"))["newest"]
    active = list(runs.filter(status__in=ACTIVE_STATUSES).order_by("pk").values_list("pk", "status")[: ACTIVE_MAX + 1])
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(newest).encode())
    for pk, status in active:
        digest.update(f"|{pk}:{status}".encode())
    schedules = _visible(Schedule.objects.order_by(), grants, org, schedule_field="pk")
    due = bool(active) or (
        schedules is not None
        and schedules.filter(enabled=True, next_run_at__lte=now + DUE_SOON).exists()
    )
    return RunsState(token=digest.hexdigest(), live=due)

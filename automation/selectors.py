"""The reads behind the pages: the schedules table and a schedule's runs.

Visibility always comes from `schedules.selectors` (the rule of `schedules.permissions`);
these only narrow and read.
Each function costs a fixed number of queries, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from automation.paging import Page, page_of
from runs.models import ScheduleRun
from runs.selectors import runs_for_schedule
from schedules.models import Agent, Organization, Schedule
from schedules.permissions import Grants
from schedules.selectors import schedule_search, schedule_status_filter, schedules_visible_to

TABLE_PAGE_SIZE = 50
RUNS_PAGE_SIZE = 20
# The table says "50 of 1000+" past this: counting every match of a filter over 10,000
# schedules was the slowest query of the table (a status filter cannot use an index).
COUNT_MAX = 1000


def table_queryset(
    user, org: Organization, *, grants: Grants | None = None, status: str = "", agent: str = "", q: str = ""
) -> QuerySet[Schedule]:
    qs = schedules_visible_to(user, grants=grants).filter(org=org).select_related("agent")
    qs = schedule_status_filter(qs, status)
    if agent:
        qs = qs.filter(agent__slug=agent)
    return schedule_search(qs, q)


@dataclass(frozen=True)
class LastRun:
    """What a row shows of a schedule's newest run."""

    status: str
    created_at: datetime


def _with_last_run(qs: QuerySet[Schedule]) -> QuerySet[Schedule]:
    # Served by the runs' (schedule_id, created_at desc) index: a probe per listed row and
    # value, in the page's own query (the run rows themselves carry prompts and answers).
    newest = ScheduleRun.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-id")
    return qs.annotate(
        newest_run_status=Subquery(newest.values("status")[:1]), newest_run_at=Subquery(newest.values("created_at")[:1])
    )


def last_run(schedule: Schedule) -> LastRun | None:
    """The newest run of a schedule read by `table_page`, or None when it never ran."""
    return LastRun(schedule.newest_run_status, schedule.newest_run_at) if schedule.newest_run_status else None


# Long fields a row never shows (the detail and the editor read the schedule again).
ROW_DEFERRED = ("prompt", "description", "params")


def table_page(user, org: Organization, *, cursor: str = "", size: int = TABLE_PAGE_SIZE, **filters) -> tuple[Page, str]:
    """One page of the table (schedules with their newest run: see `last_run`) and how
    many schedules match the filters, as shown: "240", or "1000+" past COUNT_MAX."""
    qs = table_queryset(user, org, **filters)
    total = qs.order_by()[: COUNT_MAX + 1].count()
    page = page_of(_with_last_run(qs.defer(*ROW_DEFERRED)), cursor, size)
    return page, (f"{COUNT_MAX}+" if total > COUNT_MAX else str(total))


def org_agents(org: Organization, *, slug: str | None = None) -> list[Agent]:
    """The org's agents (the filter's choices); with `slug`, only that one (a fragment that
    shows no filter form only checks the asked agent exists)."""
    if slug == "":
        return []
    agents = Agent.objects.filter(org=org)
    if slug is not None:
        agents = agents.filter(slug=slug)
    return list(agents.order_by("name", "slug"))


def runs_page(schedule: Schedule, *, cursor: str = "", size: int = RUNS_PAGE_SIZE) -> Page:
    qs = runs_for_schedule(schedule).select_related("retry_of")
    return page_of(qs, cursor, size)

"""The schedules table (/automation/schedules/), one schedule with its runs, and the row actions.

Thin: the workspace says who looks at which org, `automation.selectors` reads, the services
write, `page_errors` turns their domain errors into readable answers.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import Actor
from automation import selectors
from automation.errors import page_errors
from automation.limits import starts_runs, writes
from automation.forms import TableFilters
from automation.rows import schedule_row
from automation.views.common import (
    DIALOG_CLOSE,
    RUNS_CHANGED,
    SCHEDULE_SAVED,
    done,
    fragment_request,
    render_page,
    safe_next,
)
from automation.views.live import watch_context
from automation.views.runs import runs_context
from automation.workspace import workspace_for
from config import clock
from runs.services import manual as run_manual
from schedules import services
from schedules.permissions import DELETE, READ, RUN, WRITE
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/schedules.html"
FRAGMENTS = {"main": "main", "schedules-table": "table"}


def table_context(request, workspace, *, selected=None) -> dict:
    """Everything the table shows: filters from the URL, one page of rows, the count."""
    now = clock.now()
    context = {"workspace": workspace, "now": now, "selected": selected}
    if workspace.org is None:
        return context
    context.update(watch_context(workspace, now=now))
    # The table alone (filters, pager, refresh) shows no filter form: the asked agent will do.
    table_only = fragment_request(request) and request.htmx.target == "schedules-table"
    agents = selectors.org_agents(workspace.org, slug=request.GET.get("agent", "") if table_only else None)
    filters = TableFilters(request.GET, agents=agents, org_slug=workspace.org.slug)
    values = filters.values()
    page, total = selectors.table_page(
        request.user, workspace.org, grants=workspace.grants, cursor=values["cursor"],
        status=values["status"], agent=values["agent"], q=values["q"],
    )
    page.rows = [schedule_row(schedule, workspace, last_run=selectors.last_run(schedule)) for schedule in page.rows]
    query = filters.query()
    here = f"{request.path}?{query}" if query else request.path
    context.update(
        filters=filters,
        page=page,
        total=total,
        query=query,
        here=here,
        here_param=quote(here, safe="/"),  # as the `urlencode` filter writes it, once for all rows
        list_url=reverse("automation:schedules") + (f"?{query}" if query else ""),
        next_page_url=f"{request.path}?{filters.query(cursor=page.next_cursor)}" if page.next_cursor else "",
        first_page_url=f"{request.path}?{query}" if values["cursor"] else "",
        can_create=workspace.org_can(WRITE),
    )
    return context


@require_GET
@login_required
@page_errors
def schedule_list(request):
    workspace = workspace_for(request)
    return render_page(request, TEMPLATE, table_context(request, workspace), fragments=FRAGMENTS)


@require_GET
@login_required
@page_errors
def schedule_detail(request, pk):
    """The table with this schedule's row highlighted and its runs beside it."""
    schedule = get_schedule_for(request.user, pk, READ)
    workspace = workspace_for(request, org=schedule.org)
    context = table_context(request, workspace, selected=schedule)
    context.update(runs_context(request, workspace, schedule))
    return render_page(request, TEMPLATE, context, fragments=FRAGMENTS)


def _list_url() -> str:
    return reverse("automation:schedules")


@require_POST
@login_required
@page_errors
@writes
def schedule_set_enabled(request, pk, enabled: bool):
    """The row's "Enabled" switch: enable or disable, as the URL says (twice is harmless)."""
    schedule = get_schedule_for(request.user, pk, WRITE)
    change = services.schedule_enable if enabled else services.schedule_disable
    change(actor=Actor.from_request(request), schedule=schedule, now=clock.now())
    # Disabling cancels the schedule's waiting runs: an open runs panel shows that too.
    return done(request, _list_url(), SCHEDULE_SAVED, RUNS_CHANGED)


@require_POST
@login_required
@page_errors
@starts_runs
def schedule_run_now(request, pk):
    schedule = get_schedule_for(request.user, pk, RUN)
    key = request.POST.get("idempotency_key", "")[:64] or None
    run_manual.run_now(actor=Actor.from_request(request), schedule=schedule, now=clock.now(), idempotency_key=key)
    return done(request, reverse("automation:schedule", args=[schedule.pk]), RUNS_CHANGED)


@require_http_methods(["GET", "POST"])
@login_required
@page_errors
@writes
def schedule_delete(request, pk):
    """GET: the confirm dialog (or page, without JavaScript); POST: delete, back to the list."""
    schedule = get_schedule_for(request.user, pk, DELETE)
    next_url = safe_next(request, _list_url())
    if request.method == "GET":
        context = {"schedule": schedule, "next": next_url, "run_count": schedule.runs.count()}
        template = "automation/confirm_delete.html"
        return render_page(request, template, context, fragments={"confirm": "dialog"} if fragment_request(request) else None)
    name = schedule.name
    services.schedule_delete(actor=Actor.from_request(request), schedule=schedule, now=clock.now())
    messages.success(request, _("Schedule “%(name)s” was deleted.") % {"name": name})
    return done(request, _list_url(), SCHEDULE_SAVED, DIALOG_CLOSE, location=_after_delete(request, pk))


def _after_delete(request, pk) -> str:
    """Where the page goes: where it was (filters kept), but not to the deleted schedule."""
    target = urlsplit(safe_next(request, _list_url()))
    if str(pk) in target.path:
        target = target._replace(path=_list_url())
    return urlunsplit(target)

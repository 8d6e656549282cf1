"""The audit page (/automation/audit/): who changed what and when, in the current org.

Reads through `audit.selectors`, the same visibility and filters as GET /api/v1/audit-events/.
Filters live in the URL (a filtered view can be bookmarked or linked from a schedule's runs
panel); times are read and shown in the viewer's zone (the filtered schedule's own zone when
the viewer keeps "each schedule's own zone", else UTC).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from audit import selectors
from audit.models import AuditAction
from automation.audit_lines import audit_line
from automation.datetimes import LocalDateTimeField
from automation.errors import page_errors
from automation.paging import decode_cursor, page_of
from automation.views.common import render_page
from automation.workspace import workspace_for
from config import clock
from schedules import permissions
from schedules.models import Membership, Schedule
from schedules.selectors import schedules_visible_to

TEMPLATE = "automation/audit.html"
PAGE_SIZE = 50
SCHEDULE_CHOICES_MAX = 200
FILTER_FIELDS = ("schedule", "actor", "action", "since", "until")


class AuditFilters(forms.Form):
    schedule = forms.ChoiceField(label=_("Schedule"), required=False)
    actor = forms.ChoiceField(label=_("User"), required=False)
    action = forms.ChoiceField(label=_("Action"), required=False)
    since = LocalDateTimeField(label=_("From"), required=False)
    until = LocalDateTimeField(label=_("To"), required=False)
    cursor = forms.CharField(required=False, max_length=300)

    def __init__(self, data, *, schedules, actors, zone: str, org_slug: str):
        super().__init__(data)
        self.org_slug = org_slug
        self.fields["schedule"].choices = [("", _("All")), *((str(s.pk), s.name) for s in schedules)]
        self.fields["actor"].choices = [("", _("All")), *((a, a) for a in actors)]
        self.fields["action"].choices = [("", _("All")), *AuditAction.choices]
        self.fields["since"].zone = self.fields["until"].zone = zone  # read in the page's zone

    def values(self) -> dict:
        """The valid filters; an invalid one counts as unset (and the form shows its error)."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) or None for name in (*FILTER_FIELDS, "cursor")}

    def query(self, **changes) -> str:
        raw = {name: self.data.get(name, "") for name in FILTER_FIELDS if name not in self.errors}
        values = {"org": self.org_slug, **raw, **changes}
        return urlencode({k: v for k, v in values.items() if v})


def _schedule_choices(workspace, selected: str) -> list[Schedule]:
    visible = schedules_visible_to(None, grants=workspace.grants).filter(org=workspace.org)
    schedules = list(visible.order_by("name", "pk").only("pk", "name", "timezone")[:SCHEDULE_CHOICES_MAX])
    parsed = permissions.parse_uuid(selected)
    if parsed and all(s.pk != parsed for s in schedules):
        # A schedule beyond the list (or deleted: its events outlive it) stays selectable.
        extra = visible.filter(pk=parsed).only("pk", "name", "timezone").first()
        schedules.append(extra or Schedule(pk=parsed, name=str(parsed), timezone="UTC"))
    return schedules


def _actors(org, selected: str) -> list[str]:
    names = set(Membership.objects.filter(org=org).values_list("user__username", flat=True))
    names.add("system")
    if selected:
        names.add(selected)
    return sorted(names)


@require_GET
@login_required
@page_errors
def audit_list(request):
    workspace = workspace_for(request)
    context = {"workspace": workspace, "now": clock.now()}
    if workspace.org is None:
        return render_page(request, TEMPLATE, context, fragments={"audit-results": "results"})
    selected = request.GET.get("schedule", "")
    schedules = _schedule_choices(workspace, selected)
    chosen = next((s for s in schedules if str(s.pk) == selected), None)
    zone = workspace.viewer_zone or (chosen.timezone if chosen else "UTC")
    filters = AuditFilters(
        request.GET, schedules=schedules, actors=_actors(workspace.org, request.GET.get("actor", "")),
        zone=zone, org_slug=workspace.org.slug,
    )
    values = filters.values()
    events = selectors.audit_events_visible_to(request.user).filter(org=workspace.org)
    events = selectors.audit_events_filter(
        events, schedule=permissions.parse_uuid(values["schedule"]) if values["schedule"] else None,
        actor=values["actor"] or "", action=values["action"] or "", since=values["since"], until=values["until"],
    )
    cursor = values["cursor"] or ""
    position = decode_cursor(cursor) if cursor else None
    page = page_of(events, cursor if position and isinstance(position[1], int) else "", PAGE_SIZE)
    names = dict(Schedule.objects.filter(pk__in={e.schedule_id for e in page.rows if e.schedule_id}).values_list("pk", "name"))
    entries = [(event, audit_line(event, schedule_name=names.get(event.schedule_id, ""), zone=zone)) for event in page.rows]
    query = filters.query()
    context.update(
        filters=filters,
        zone=zone,
        page=page,
        entries=entries,
        query=query,
        here=f"{request.path}?{query}",
        next_page_url=f"{request.path}?{filters.query(cursor=page.next_cursor)}" if page.next_cursor else "",
        first_page_url=f"{request.path}?{query}" if cursor else "",
        filtered=any(values[name] for name in FILTER_FIELDS),
    )
    return render_page(request, TEMPLATE, context, fragments={"audit-results": "results"})

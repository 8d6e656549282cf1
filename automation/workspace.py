"""Who is looking at which org, and in which time zone: resolved once per page request.

The current org comes from the URL (`?org=<slug>`) when given, else from the session (the
last org the person chose), else their first org. Only orgs where the person may read
schedules are offered; an org slug they cannot read is answered as not found, so the page
never shows another org's data nor reveals that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from django.db.models import Q

from automation.models import ViewerPreference
from config.errors import NotVisible
from schedules import permissions, timing
from schedules.models import Organization, Schedule
from schedules.permissions import READ, Grants

SESSION_ORG = "automation_org"
# The browser's own zone (Intl), which static/automation/app.js sends with every request.
BROWSER_ZONE_COOKIE = "browser_tz"


@dataclass
class Workspace:
    grants: Grants
    orgs: list[Organization]
    org: Organization | None
    viewer_zone: str  # an IANA name, or "" for each schedule's own zone

    def org_can(self, perm: str) -> bool:
        return self.org is not None and perm in self.grants.for_org(self.org.pk)

    def can(self, perm: str, schedule: Schedule) -> bool:
        return perm in self.grants.for_schedule(schedule)

    def zone_for(self, schedule_zone: str) -> str:
        return self.viewer_zone or schedule_zone


def readable_orgs(grants: Grants) -> list[Organization]:
    """Orgs where the person may read every schedule, or holds a grant on one of them."""
    if READ in grants.everywhere:
        return list(Organization.objects.order_by("name", "slug"))
    condition = Q(pk__in=grants.org_ids(READ))
    schedule_ids = grants.schedule_ids(READ)
    if schedule_ids:
        condition |= Q(pk__in=Schedule.objects.filter(pk__in=schedule_ids).values("org_id"))
    return list(Organization.objects.filter(condition).order_by("name", "slug"))


def viewer_zone(user) -> str:
    return ViewerPreference.objects.filter(user=user).values_list("timezone", flat=True).first() or ""


def browser_zone(request) -> str:
    """The zone the browser says it is in (an IANA name), or "" when unsent or not a zone."""
    zone = unquote(request.COOKIES.get(BROWSER_ZONE_COOKIE, ""))[:64]
    try:
        return timing.validate_timezone(zone).key if zone else ""
    except timing.ScheduleError:
        return ""


def new_schedule_zone(request, workspace: Workspace) -> str:
    """Where a new schedule's times start: the viewer's stored zone, else the browser's, else UTC.
    (A person in Shanghai must not save a 09:00 UTC schedule without noticing.)"""
    return workspace.viewer_zone or browser_zone(request) or "UTC"


def workspace_for(request, *, org: Organization | None = None) -> Workspace:
    """The request's workspace; `org` (a schedule's org) wins over the URL and the session."""
    grants = permissions.grants_for(request.user)
    orgs = readable_orgs(grants)
    by_slug = {o.slug: o for o in orgs}
    if org is not None:
        current = by_slug.get(org.slug)
        if current is None:
            raise NotVisible("org not found")
    elif request.GET.get("org"):
        current = by_slug.get(request.GET["org"])
        if current is None:
            raise NotVisible("org not found")
    else:
        current = by_slug.get(request.session.get(SESSION_ORG, "")) or (orgs[0] if orgs else None)
    if current is not None and request.session.get(SESSION_ORG) != current.slug:
        request.session[SESSION_ORG] = current.slug
    return Workspace(grants=grants, orgs=orgs, org=current, viewer_zone=viewer_zone(request.user))

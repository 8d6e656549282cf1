"""Reads of schedules shared by the API, the pages and the admin.

The permission-aware reads (`schedules_visible_to`, `get_schedule_for`) apply the rule of
`schedules.permissions`, which keeps the grants and the checks.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from config.errors import NotVisible
from schedules import permissions
from schedules.models import Schedule, ScheduleStatus
from schedules.permissions import READ, Grants

# The derived statuses as filters; they must agree with `Schedule.status`, which checks them
# in this order (disabled wins over finished, finished over failing).
_STATUS_FILTERS = {
    ScheduleStatus.DISABLED: Q(enabled=False),
    ScheduleStatus.FINISHED: Q(enabled=True, next_run_at__isnull=True),
    ScheduleStatus.FAILING: Q(enabled=True, next_run_at__isnull=False, consecutive_failures__gt=0),
    ScheduleStatus.OK: Q(enabled=True, next_run_at__isnull=False, consecutive_failures=0),
}


def schedule_status_filter(qs: QuerySet[Schedule], status: str | None) -> QuerySet[Schedule]:
    """Narrow `qs` to one derived status (ok, failing, disabled, finished).

    An empty status returns `qs` unchanged; an unknown one raises ValueError naming the
    allowed values, for the caller to turn into a 400.
    """
    if not status:
        return qs
    try:
        condition = _STATUS_FILTERS[ScheduleStatus(status)]
    except ValueError:
        allowed = ", ".join(ScheduleStatus.values)
        raise ValueError(f"unknown status '{status}'; use one of: {allowed}") from None
    return qs.filter(condition)


def schedule_search(qs: QuerySet[Schedule], text: str | None) -> QuerySet[Schedule]:
    """Narrow `qs` to schedules whose name, description or agent slug contains `text`
    (case-insensitive); blank text returns `qs` unchanged."""
    text = (text or "").strip()
    if not text:
        return qs
    return qs.filter(Q(name__icontains=text) | Q(description__icontains=text) | Q(agent__slug__icontains=text))


def schedules_visible_to(user, perm: str = READ, *, grants: Grants | None = None) -> QuerySet[Schedule]:
    """Schedules the user may read (or hold `perm` on), in one query.

    `grants`: the user's, when the caller read them already this request (a page's
    workspace does), so they are not read twice."""
    q = permissions.grants_filter(grants if grants is not None else permissions.grants_for(user), perm, org_field="org_id", schedule_field="pk")
    return Schedule.objects.all() if q is None else Schedule.objects.filter(q)


def get_schedule_for(user, schedule_id, perm: str = READ, *, queryset: QuerySet | None = None) -> Schedule:
    """The schedule, when the user may `perm` it.

    NotVisible when it does not exist or is not readable (its existence is not revealed);
    MissingPermission naming `perm` when readable but `perm` is not held.
    """
    pk = permissions.parse_uuid(schedule_id)
    queryset = queryset if queryset is not None else Schedule.objects.select_related("org", "agent")
    schedule = queryset.filter(pk=pk).first() if pk else None
    if schedule is None:
        raise NotVisible(_("schedule not found"))
    permissions.check_schedule_perm(user, schedule, perm)
    return schedule

"""Read helpers shared by the API, the pages and the admin.

Permission-aware selection lives in `schedules.permissions`, on top of these.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from schedules.models import Schedule, ScheduleStatus

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

"""Reads of runs and their alerts that the API, the pages and the scheduler share.

`get_run_for` applies the visibility rule: a run is visible exactly when its schedule is."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext as _

from config.errors import NotVisible
from runs.alerts.models import Alert, AlertDelivery, AlertEvent, AlertState, DeliveryAttempt
from runs.models import ScheduleRun
from schedules import permissions
from schedules.permissions import READ


def get_run_for(user, run_id, perm: str = READ) -> ScheduleRun:
    """The run, when the user may `perm` its schedule.

    NotVisible hides other orgs' runs (and malformed ids); MissingPermission names `perm`.
    """
    pk = permissions.parse_uuid(run_id)
    run = (
        ScheduleRun.objects.select_related("schedule", "org", "triggered_by").filter(pk=pk).first() if pk else None
    )
    if run is None:
        raise NotVisible(_("run not found"))
    try:
        permissions.check_schedule_perm(user, run.schedule, perm)
    except NotVisible:
        raise NotVisible(_("run not found")) from None
    return run


def runs_for_schedule(schedule):
    """A schedule's runs, newest first (served by the (schedule_id, created_at desc) index)."""
    return ScheduleRun.objects.filter(schedule=schedule).order_by("-created_at", "-id")


def get_open_alert(*, org_id: int, cause: str, schedule_id=None) -> Alert | None:
    """The open alert of this cause (for this schedule, or org-wide when None), if any."""
    return Alert.objects.filter(org_id=org_id, cause=cause, schedule_id=schedule_id, state=AlertState.OPEN).first()


def delivery_progress(event: AlertEvent) -> list[AlertDelivery]:
    """The test alert's deliveries with their first attempt (`first_try`, None while queued)."""
    deliveries = list(
        AlertDelivery.objects.filter(event=event).select_related("channel").order_by("channel__name", "channel_id")
    )
    first: dict[int, DeliveryAttempt] = {}
    for attempt in DeliveryAttempt.objects.filter(delivery__event=event).order_by("at", "id"):
        first.setdefault(attempt.delivery_id, attempt)
    for delivery in deliveries:
        delivery.first_try = first.get(delivery.pk)
    return deliveries


def open_alert_counts() -> dict[tuple[str, str], int]:
    """Open alerts by (org slug, cause), for a metrics collector (bounded labels: no schedule ids)."""
    rows = Alert.objects.filter(state=AlertState.OPEN).values_list("org__slug", "cause").annotate(n=Count("id"))
    return {(slug, cause): n for slug, cause, n in rows}

"""Reads of runs that the API and the pages share.

`get_run_for` applies the visibility rule: a run is visible exactly when its schedule is."""

from __future__ import annotations

from django.utils.translation import gettext as _

from config.errors import NotVisible
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

"""Reads of runs that the API and the pages share."""

from __future__ import annotations

from runs.models import ScheduleRun


def runs_for_schedule(schedule):
    """A schedule's runs, newest first (served by the (schedule_id, created_at desc) index)."""
    return ScheduleRun.objects.filter(schedule=schedule).order_by("-created_at", "-id")

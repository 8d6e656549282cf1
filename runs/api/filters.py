"""Query-string filters of a schedule's run list."""

from __future__ import annotations

from django_filters import rest_framework as filters

from runs.models import RunStatus, ScheduleRun


class RunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RunStatus.choices, help_text="Only runs in this state.")

    class Meta:
        model = ScheduleRun
        fields = ["status"]

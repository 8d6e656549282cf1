"""Query-string filters of the schedule list."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from django_filters import rest_framework as filters

from schedules.models import Schedule, ScheduleStatus
from schedules.selectors import schedule_status_filter


class StrictBooleanField(forms.Field):
    """true/false/1/0; anything else is a 400. (django-filter's BooleanFilter ignores a
    value it cannot read, such as "yes", and would answer an unfiltered list.)"""

    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise forms.ValidationError(f"'{value}' is not true or false")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(filters.Filter):
    field_class = StrictBooleanField


class ScheduleFilter(filters.FilterSet):
    org = filters.CharFilter(field_name="org__slug", max_length=64, help_text="Org slug, e.g. 'demo'.")
    agent = filters.CharFilter(field_name="agent__slug", max_length=64, help_text="Agent slug, e.g. 'echo'.")
    enabled = StrictBooleanFilter(help_text="true or false.")
    status = filters.ChoiceFilter(
        choices=ScheduleStatus.choices, method="filter_status", help_text="ok, failing, disabled or finished."
    )
    q = filters.CharFilter(
        method="filter_q", max_length=200, help_text="Search in name, description and agent slug (case-insensitive)."
    )

    class Meta:
        model = Schedule
        fields = ["org", "agent", "enabled", "status", "q"]

    def filter_status(self, queryset, name, value):
        return schedule_status_filter(queryset, value)

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(description__icontains=value) | Q(agent__slug__icontains=value)
        )

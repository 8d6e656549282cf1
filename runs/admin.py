"""Read-only admin for runs and scheduler heartbeats.

Runs are history: they change only through the scheduler and the run services, so support
staff can look but not add, edit or delete here.
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyAdmin, pretty_json
from runs.models import RunTally, ScheduleRun, SchedulerHeartbeat


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = [
        "job_run_id",
        "schedule",
        "status",
        "trigger_type",
        "attempt",
        "scheduled_for",
        "started_at",
        "finished_at",
        "error_code",
    ]
    list_filter = ["status", "trigger_type", "org"]
    list_select_related = ["schedule", "org"]
    search_fields = ["job_run_id", "session_id"]
    search_help_text = _("Job run id or session id; paste a run or schedule id to find it exactly.")
    ordering = ["-created_at"]
    # Counting a large runs table on every page is the slow part of a changelist.
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["id", "job_run_id", "schedule", "org", "status", "trigger_type", "attempt", "retry_of"]}),
        (
            _("Times (UTC)"),
            {"fields": ["scheduled_for", "not_before", "queued_at", "started_at", "finished_at", "duration", "created_at"]},
        ),
        (
            _("Result"),
            {"fields": ["session_id", "message_id", "outputs_pretty", "error_code", "error_message", "missed_count"]},
        ),
        (
            _("What was sent"),
            {"fields": ["agent_slug", "output_type", "prompt", "params_pretty", "variables", "calendar_note", "triggered_by"]},
        ),
        (_("Lease"), {"classes": ["collapse"], "fields": ["lease_owner", "lease_expires_at"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            pk = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=pk) | queryset.filter(schedule_id=pk), may_have_duplicates

    @admin.display(description=_("duration"))
    def duration(self, obj):
        seconds = obj.duration_seconds
        return "-" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description=_("outputs"))
    def outputs_pretty(self, obj):
        return pretty_json(obj.outputs)

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj):
        return pretty_json(obj.params)


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = [
        "replica_id",
        "hostname",
        "pid",
        "started_at",
        "last_beat_at",
        "beat_age",
        "stopped_at",
        "fired_total",
        "dispatched_total",
        "last_error",
    ]
    search_fields = ["replica_id", "hostname"]
    ordering = ["-last_beat_at"]

    @admin.display(description=_("seconds since last beat"))
    def beat_age(self, obj):
        # Read at display time: this is the support view, not business logic.
        return int((timezone.now() - obj.last_beat_at).total_seconds())


@admin.register(RunTally)
class RunTallyAdmin(ReadOnlyAdmin):
    """The running totals behind `/metrics` (runs/metrics/tally.py), for support: written by
    scrapes, never by hand."""

    list_display = ["through", "org", "status", "trigger_type", "runs", "timed", "seconds"]
    list_filter = ["status", "trigger_type"]
    search_fields = ["org__slug"]
    ordering = ["-through"]


# The alerts' admin lives beside them; importing it registers it.
from runs.alerts import admin as alerts_admin  # noqa: E402,F401

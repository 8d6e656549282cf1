"""Schedules: saved through `schedules.services`, as everywhere."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from guardian.admin import ReinforcedGuardedModelAdminMixin

from audit.services import Actor
from config import clock
from schedules import services, timing
from schedules.admin.base import ServiceDeleteMixin
from schedules.models import Schedule, ScheduleStatus, ScheduleType
from schedules.selectors import schedule_status_filter


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return ScheduleStatus.choices

    def queryset(self, request, queryset):
        return schedule_status_filter(queryset, self.value())


class ScheduleAdminForm(forms.ModelForm):
    """Validates a save by running the real service in a savepoint that is rolled back.

    The admin calls `save_model` only after the form is valid, and an exception there is a
    500, not a form error. So `clean()` runs the service once to collect its errors, and
    `save_model` runs it again, with the same `now`, to write.
    """

    request = None  # set on the class by ScheduleAdmin.get_form

    class Meta:
        model = Schedule
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self.now = clock.now()
        try:
            with transaction.atomic():
                self.write()
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as exc:
            self._add_service_errors(exc)
        return cleaned

    def service_data(self) -> dict:
        if self.instance._state.adding:
            names = [n for n in services.EDITABLE_FIELDS if n in self.cleaned_data]
        else:
            names = [n for n in self.changed_data if n in services.EDITABLE_FIELDS]
        return {name: self.cleaned_data[name] for name in names}

    def write(self) -> Schedule:
        actor = Actor.from_request(self.request)
        if self.instance._state.adding:
            return services.schedule_create(
                actor=actor, org=self.cleaned_data["org"], data=self.service_data(), now=self.now
            )
        return services.schedule_update(actor=actor, schedule=self.instance, data=self.service_data(), now=self.now)

    def _add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.message_dict.items():
            if field in self.fields:
                self.add_error(field, errors)
            else:
                # A field shown read-only (or not at all) still gets a readable message.
                self.add_error(None, [f"{field}: {message}" for message in errors])


class _DryRun(Exception):
    pass


@admin.register(Schedule)
class ScheduleAdmin(ServiceDeleteMixin, ReinforcedGuardedModelAdminMixin, admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = [
        "name",
        "org",
        "agent",
        "schedule_type",
        "timing_summary",
        "timezone",
        "enabled",
        "status_label",
        "next_run_at",
        "consecutive_failures",
    ]
    list_filter = [StatusFilter, "schedule_type", "enabled", "org", "output_type", "overlap_policy"]
    list_select_related = ["org", "agent"]
    search_fields = ["name", "prompt", "agent__slug", "org__slug"]
    search_help_text = _("Name, prompt, agent or org; paste a schedule id to find it exactly.")
    autocomplete_fields = ["agent"]
    ordering = ["-created_at"]
    show_full_result_count = False
    actions = ["enable_selected", "disable_selected"]
    readonly_fields = [
        "id",
        "status_label",
        "timing_preview",
        "next_run_at",
        "last_run_at",
        "consecutive_failures",
        "paused_reason",
        "timing_error",
        "runs_link",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["org", "agent", "name", "description", "prompt", "output_type", "params"]}),
        (
            _("When"),
            {
                "fields": [
                    "schedule_type",
                    "cron_expression",
                    "interval_seconds",
                    "run_at",
                    "timezone",
                    "calendar",
                    "start_at",
                    "end_at",
                    "enabled",
                ],
                "description": _(
                    "Fill in the field of the chosen type only: a cron expression, an interval in "
                    "seconds, or a single time. Times are entered in UTC; the time zone decides how "
                    "the cron expression is read."
                ),
            },
        ),
        (
            _("Runs, retries and alerts"),
            {
                "fields": [
                    "max_concurrency",
                    "overlap_policy",
                    "max_retries",
                    "retry_backoff_seconds",
                    "timeout_seconds",
                    "catchup_window_seconds",
                    "alert_after_failures",
                    "pause_after_failures",
                    "paused_reason",
                ]
            },
        ),
        (
            _("Success means, and budget"),
            {
                "classes": ["collapse"],
                "fields": [
                    "success_checks",
                    "retry_failed_checks",
                    "monthly_token_budget",
                    "monthly_cost_budget_usd",
                    "max_tokens",
                    "max_cost_usd",
                ],
            },
        ),
        (
            _("State (computed)"),
            {
                "fields": [
                    "status_label",
                    "timing_preview",
                    "next_run_at",
                    "last_run_at",
                    "consecutive_failures",
                    "timing_error",
                    "runs_link",
                ]
            },
        ),
        (
            _("Origin"),
            {
                "classes": ["collapse"],
                "fields": [
                    "id",
                    "source_session_id",
                    "source_message_id",
                    "created_by",
                    "created_at",
                    "updated_by",
                    "updated_at",
                ],
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # A schedule never moves between orgs (its runs, audit and limits belong to one).
        if obj is not None:
            fields.append("org")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # get_form builds a fresh class per request, so this does not leak between requests.
        form.request = request
        return form

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            pk = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=pk), may_have_duplicates

    def save_model(self, request, obj, form, change):
        saved = form.write()
        # The admin goes on with `obj` (its log entry, the redirect): point it at the saved row.
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_one(self, *, actor, obj, now) -> None:
        services.schedule_delete(actor=actor, schedule=obj, now=now)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # What cascades with a schedule (its runs) is read-only in the admin, yet goes with it
        # by design (schedule_delete); without this no one could delete a schedule that ever ran.
        # Followed down (a run's alert events, their deliveries): all of it goes with the schedule.
        models_left, seen = [Schedule], set()
        while models_left:
            for relation in models_left.pop()._meta.related_objects:
                related = relation.related_model
                if relation.on_delete is models.CASCADE and related not in seen:
                    seen.add(related)
                    perms_needed.discard(related._meta.verbose_name)
                    models_left.append(related)
        return deleted, counts, perms_needed, protected

    @admin.action(description=_("Enable selected schedules"), permissions=["change"])
    def enable_selected(self, request, queryset):
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description=_("Disable selected schedules"), permissions=["change"])
    def disable_selected(self, request, queryset):
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request, queryset, *, enabled: bool) -> None:
        actor, now = Actor.from_request(request), clock.now()
        action = services.schedule_enable if enabled else services.schedule_disable
        done, failed = 0, []
        for schedule in queryset.select_related("agent"):
            try:
                action(actor=actor, schedule=schedule, now=now)
                done += 1
            except ValidationError as exc:
                failed.append(f"{schedule.name}: {'; '.join(exc.messages)}")
        if done:
            self.message_user(request, _("%(count)d schedule(s) updated.") % {"count": done}, messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    @admin.display(description=_("when"))
    def timing_summary(self, obj):
        if obj.schedule_type == ScheduleType.CRON:
            return obj.cron_expression
        if obj.schedule_type == ScheduleType.INTERVAL and obj.interval_seconds:
            return _("every %(seconds)s s") % {"seconds": obj.interval_seconds}
        if obj.schedule_type == ScheduleType.ONCE and obj.run_at:
            return _("once at %(when)s UTC") % {"when": obj.run_at.strftime("%Y-%m-%d %H:%M")}
        return "-"

    @admin.display(description=_("reads as"))
    def timing_preview(self, obj):
        """The saved timing in words and its next fire times, so support need not parse cron."""
        if obj is None or obj._state.adding:
            return "-"
        try:
            shown = timing.preview(obj.timing_spec(), after=clock.now(), count=5, language=get_language() or "en")
        except timing.ScheduleError as exc:
            return f"{exc.field}: {exc.message}"
        runs = format_html_join(
            "", "<li>{} ({} UTC)</li>", ((r["local"], r["utc"]) for r in shown["next_runs"])
        )
        return format_html("{}<ul>{}</ul>", shown["description"], runs or _("no further runs"))

    @admin.display(description=_("status"))
    def status_label(self, obj):
        return ScheduleStatus(obj.status).label

    @admin.display(description=_("runs"))
    def runs_link(self, obj):
        if obj is None or obj.pk is None or obj._state.adding:
            return "-"
        url = reverse("admin:runs_schedulerun_changelist") + f"?schedule__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Runs of this schedule"))

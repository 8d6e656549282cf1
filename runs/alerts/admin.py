"""Read-only admin for alerts, their events, channels and deliveries.

Alerts change only through their services (runs/alerts/), channels only on the alerts page,
whose writes are audited: support staff look here, they do not edit.
"""

from __future__ import annotations

from django.contrib import admin

from config.admin import ReadOnlyAdmin
from runs.alerts.models import Alert, AlertChannel, AlertDelivery, AlertEvent, DeliveryAttempt


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["kind", "at", "detail"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["cause", "org", "schedule", "state", "opened_at", "resolved_at"]
    list_filter = ["state", "cause"]
    search_fields = ["org__slug", "schedule__name", "detail"]
    list_select_related = ["org", "schedule"]
    inlines = [AlertEventInline]


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = ["alert", "kind", "at"]
    list_filter = ["kind"]
    search_fields = ["detail"]


@admin.register(AlertChannel)
class AlertChannelAdmin(ReadOnlyAdmin):
    list_display = ["name", "org", "kind", "target", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "target", "org__slug"]
    exclude = ["secret"]  # it signs the org's webhooks: not for support staff's screens


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "channel", "state", "attempts", "next_attempt_at"]
    list_filter = ["state"]
    search_fields = ["channel__name"]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["delivery", "at", "ok", "status_code", "error"]
    list_filter = ["ok"]
    search_fields = ["error"]

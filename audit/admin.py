"""Read-only admin for the audit trail (append-only: no add, change or delete)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from config.admin import ReadOnlyAdmin, pretty_json


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_id", "org", "request_id"]
    list_filter = ["action", "target_type", "org"]
    list_select_related = ["org"]
    search_fields = ["actor_label", "target_id", "=schedule_id", "request_id"]
    search_help_text = _("Actor, target id, schedule id (exact) or request id.")
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    fields = [
        "created_at",
        "actor_label",
        "actor",
        "action",
        "target_type",
        "target_id",
        "schedule_id",
        "org",
        "before_pretty",
        "after_pretty",
        "request_id",
        "client_ip",
    ]
    readonly_fields = fields

    @admin.display(description=_("before"))
    def before_pretty(self, obj):
        return pretty_json(obj.before)

    @admin.display(description=_("after"))
    def after_pretty(self, obj):
        return pretty_json(obj.after)

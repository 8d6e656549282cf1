"""Read-only admin for drafts from chat: support can see what a person was about to schedule;
drafts change only through `schedules.drafts` and expire on their own."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyAdmin
from schedules.models import ScheduleDraft


@admin.register(ScheduleDraft)
class ScheduleDraftAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "org", "created_by", "agent", "name", "session_id", "expires_at", "schedule"]
    list_filter = ["org"]
    list_select_related = ["org", "created_by", "agent", "schedule"]
    search_fields = ["name", "session_id", "message_id", "=id"]
    search_help_text = _("Name, chat session or message id, or the draft's id (exact).")

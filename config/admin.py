"""Admin building blocks every app may use."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody edits by hand (audit events, runs, heartbeats).

    View permission still applies: a staff user without it sees nothing.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

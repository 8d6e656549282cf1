"""Input fields and patterns that several apps' APIs share."""

from __future__ import annotations

from datetime import datetime, timezone

from rest_framework import serializers

# Stored datetimes stay in a range every calendar computation handles (no year-9999 overflow).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)

# A UUID in a path, with or without its dashes (a route's `lookup_value_regex`).
UUID_RE = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class BoundedDateTimeField(serializers.DateTimeField):
    """A date-time between EARLIEST and LATEST."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if not EARLIEST <= parsed.replace(tzinfo=parsed.tzinfo or timezone.utc) <= LATEST:
            raise serializers.ValidationError(f"must be between {EARLIEST.year} and {LATEST.year}")
        return parsed

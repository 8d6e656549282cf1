"""The timing preview that the API (`POST /api/v1/schedules/preview/`) and the editor page share.

One function, so both validate a timing the way a save would and answer the same
description and fire times.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from schedules import timing


def timing_preview(spec: timing.Spec, *, now: datetime, after: datetime | None = None, count: int = 5,
                   language: str = "en") -> dict:
    """`timing.preview` of `spec` after `after` (default `now`), once `spec` is valid at `now`
    with the configured interval bounds, plus `daylight`: notes on the daylight-saving days
    among those fire times, and `calendar`: what the workday calendar changes (None without
    one; `timing.calendar_preview`). Raises `timing.ScheduleError` naming the field that is wrong."""
    timing.validate_spec(
        spec,
        now=now,
        min_interval=settings.SCHEDULE_MIN_INTERVAL_SECONDS,
        max_interval=settings.SCHEDULE_MAX_INTERVAL_SECONDS,
    )
    after = after or now
    result = timing.preview(spec, after=after, count=count, language=language)
    result["daylight"] = timing.daylight_notes(spec, after, count)
    result["calendar"] = timing.calendar_preview(spec, after, count)
    return result

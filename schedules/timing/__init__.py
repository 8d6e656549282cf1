"""Schedule timing: the one module that interprets cron expressions, intervals and zones.

All stored times are UTC; a schedule's IANA zone decides how its cron expression reads.
Daylight saving follows Debian cron (docs/design.md, section 3):

- a fixed time that does not exist fires once, at the first instant after the gap;
- a fixed time that occurs twice fires once, at its first occurrence;
- a wildcard job (minute or hour field starting with `*`, as `*/15 1 * * *` or
  `0 * * * *`) fires at every real occurrence, and none inside a gap.

Nothing here reads the clock or Django settings: time and bounds are arguments.
"""

from .calendars import validate_calendar
from .cron import validate_cron
from .daylight import GAP, REPEAT, DaylightNote, daylight_notes, wall_note
from .describe import describe, preview
from .jitter import jitter_delay
from .occurrences import catch_up, next_fire, next_fires, read_local_times, validate_spec
from .types import CRON, INTERVAL, ONCE, SCHEDULE_TYPES, CatchUp, ScheduleError, Spec
from .workdays import calendar_decisions, calendar_preview, calendar_warning
from .zones import offset_text, validate_timezone, wall_to_utc

__all__ = [
    "CRON",
    "INTERVAL",
    "ONCE",
    "SCHEDULE_TYPES",
    "CatchUp",
    "DaylightNote",
    "GAP",
    "ScheduleError",
    "Spec",
    "REPEAT",
    "calendar_decisions",
    "calendar_preview",
    "calendar_warning",
    "catch_up",
    "daylight_notes",
    "jitter_delay",
    "describe",
    "next_fire",
    "next_fires",
    "offset_text",
    "preview",
    "read_local_times",
    "validate_calendar",
    "validate_cron",
    "validate_spec",
    "validate_timezone",
    "wall_note",
    "wall_to_utc",
]

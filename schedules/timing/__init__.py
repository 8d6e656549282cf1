"""Schedule timing: the one module that interprets cron expressions, intervals and zones.

All stored times are UTC; a schedule's IANA zone decides how its cron expression reads.
Daylight saving follows Debian cron (DESIGN.md section 4):

- a fixed-hour time that does not exist fires once, at the first instant after the gap;
- a fixed-hour time that occurs twice fires once, at its first occurrence;
- with an hour field of `*` or `*/n`, every real occurrence fires (none inside a gap).

Nothing here reads the clock or Django settings: time and bounds are arguments.
"""

from .cron import validate_cron
from .daylight import GAP, REPEAT, DaylightNote, daylight_notes, wall_note
from .describe import describe, preview
from .occurrences import catch_up, next_fire, next_fires, validate_spec
from .types import CRON, INTERVAL, ONCE, SCHEDULE_TYPES, CatchUp, ScheduleError, Spec
from .zones import validate_timezone, wall_to_utc

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
    "catch_up",
    "daylight_notes",
    "describe",
    "next_fire",
    "next_fires",
    "preview",
    "validate_cron",
    "validate_spec",
    "validate_timezone",
    "wall_note",
    "wall_to_utc",
]

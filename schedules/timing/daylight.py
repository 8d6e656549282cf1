"""What daylight saving does to a schedule's next fire times, for people to read in a preview.

The fire times themselves come from `occurrences` (Debian cron's rules); this only explains
them. Each note names a local wall-clock time that does not exist (spring forward) or
occurs twice (fall back) on a day among the previewed fires, and what the schedule does
then, found by asking `next_fire` rather than by re-deriving the rules here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .cron import compile_cron
from .occurrences import _utc, next_fire, next_fires
from .types import CRON, Spec
from .zones import ONE_US, is_utc, next_transition, validate_timezone, wall_to_utc

GAP = "gap"  # the wall time does not exist
REPEAT = "repeat"  # the wall time occurs twice

_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class DaylightNote:
    kind: str  # GAP or REPEAT
    wall: datetime  # the local time the schedule names, naive (e.g. 2026-03-08 02:30)
    # GAP: when it runs instead (local, aware), None when the run is skipped.
    # REPEAT: the occurrence it runs at (the first), None when it runs at neither.
    runs_at: datetime | None
    # REPEAT: the second occurrence when it runs at both (local, aware), else None.
    also_at: datetime | None = None


def _fires_at(spec: Spec, instant: datetime) -> bool:
    return next_fire(spec, instant - ONE_US) == instant


def wall_note(wall: datetime, timezone: str) -> DaylightNote | None:
    """The note for one typed local time (a once schedule's run_at), or None when it exists
    exactly once. A missing time runs at the first instant after the gap; a repeated one
    at its first occurrence (as `zones.wall_to_utc` reads it)."""
    zone = validate_timezone(timezone)
    if is_utc(zone):
        return None
    wall = wall.replace(tzinfo=None, fold=0)
    first = wall_to_utc(wall, zone)
    local = first.astimezone(zone)
    if local.replace(tzinfo=None) != wall:
        return DaylightNote(GAP, wall, local)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(first.tzinfo)
    if second != first:
        return DaylightNote(REPEAT, wall, local)
    return None


def daylight_notes(spec: Spec, after: datetime, count: int = 5) -> list[DaylightNote]:
    """Notes for the offset changes of the schedule's zone up to its `count`-th fire after
    `after`. Cron only: intervals count elapsed time and once schedules are typed as one
    wall time (see `wall_note`)."""
    if spec.schedule_type != CRON:
        return []
    zone = validate_timezone(spec.timezone)
    if is_utc(zone):
        return []
    fires = next_fires(spec, after, count)
    if not fires:
        return []
    matcher = compile_cron(spec.cron_expression)[1]
    notes: list[DaylightNote] = []
    cur = _utc(after, "after")
    while (change := next_transition(zone, cur, fires[-1])) is not None:
        cur = change
        old = (change - ONE_US).astimezone(zone).utcoffset()
        new = change.astimezone(zone).utcoffset()
        # The wall clock reads `old_wall` just before the change and `new_wall` at it.
        old_wall = (change + old).replace(tzinfo=None)
        new_wall = (change + new).replace(tzinfo=None)
        low, high = min(old_wall, new_wall), max(old_wall, new_wall)
        named = matcher.next_after(low - _MINUTE)  # the first named time from `low` on
        if named is None or named >= high:
            continue
        if new_wall > old_wall:
            runs_at = change.astimezone(zone) if _fires_at(spec, change) else None
            notes.append(DaylightNote(GAP, named, runs_at))
            continue
        first = (named - old).replace(tzinfo=change.tzinfo)
        second = (named - new).replace(tzinfo=change.tzinfo)
        at_first, at_second = _fires_at(spec, first), _fires_at(spec, second)
        if at_first or at_second:
            shown = first if at_first else second
            notes.append(
                DaylightNote(
                    REPEAT,
                    named,
                    shown.astimezone(zone),
                    second.astimezone(zone) if at_first and at_second else None,
                )
            )
    return notes

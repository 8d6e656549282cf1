"""The editor's preview of a schedule's inputs: what its workday calendar changes among the
next runs, and the next run's prompt with its variables resolved (schedules/variables.py).

Both read what the form holds, saved or not, so a draft from chat with `{{ yesterday }}`
shows the date it will say before it is saved.
"""

from __future__ import annotations

from datetime import datetime

from schedules import variables
from schedules.timing import calendars


def calendar_context(calendar: dict | None) -> dict | None:
    """The preview's `calendar` (timing.calendar_preview) as the template shows it."""
    if not calendar:
        return None
    first, last = calendar["data_range"]
    return {
        "name": calendar["name"],
        "first_year": first,
        "last_year": last,
        "warning": calendar["warning"],
        "added": [c for c in calendar["changes"] if c["change"] == "added"],
        "removed": [c for c in calendar["changes"] if c["change"] == "removed"],
    }


def next_run_context(prompt: str, *, fire: datetime | None, zone: str) -> dict | None:
    """The next run's resolved prompt and its local time, or None (no next run, a bad prompt)."""
    if fire is None or not prompt or variables.prompt_problem(prompt):
        return None
    text, values = variables.resolve(prompt, at=fire, timezone=zone)
    return {
        "prompt": text,
        "uses_variables": bool(values),
        "scheduled_for_local": variables.values_at(fire, zone)["scheduled_for"],
        "timezone": zone,
    }


def calendar_choices() -> list[str]:
    """The names the "Workday calendar" field suggests."""
    return list(calendars.PRESETS)

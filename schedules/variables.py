"""Run variables in a prompt: `{{ yesterday }}` means the schedule's yesterday.

A prompt may name a fixed set of values of its occurrence, read at the occurrence's
`scheduled_for` in the schedule's time zone (run-now: the time of the request), so a
"summarise yesterday's sales" agent never guesses the date from the server's UTC clock or
from the model's own idea of today:

| name | value, e.g. at 2026-12-04 09:00 Asia/Shanghai |
| --- | --- |
| `date` | `2026-12-04` |
| `yesterday` | `2026-12-03` |
| `tomorrow` | `2026-12-05` |
| `week` | `2026-W49` (ISO week) |
| `month` | `2026-12` |
| `previous_month` | `2026-11` |
| `scheduled_for` | `2026-12-04T09:00:00+08:00` (local, with its offset) |
| `timezone` | `Asia/Shanghai` |

One filter formats a date: `{{ yesterday|date:"%Y年%m月%d日" }}` (strftime directives; `week`
formats its Monday, the months their first day). Nothing else: no attribute access, no
other filter, no code. A literal `{{` is written `{{ "{{" }}`. Anything else between `{{` and
`}}`, or a `{{` never closed, is refused when the schedule is saved (`prompt_problem`).

A read: no clock, no database; `at` is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils.translation import gettext

OPEN, CLOSE = "{{", "}}"
NAMES = ("date", "yesterday", "tomorrow", "week", "month", "previous_month", "scheduled_for", "timezone")
# How a literal `{{` is written (docs/design.md, "Run variables").
LITERAL_OPEN = '{{ "{{" }}'
FORMAT_MAX_LENGTH = 64
_TAG = re.compile(r"""^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*(?P<filter>[A-Za-z_]\w*)\s*(?::\s*(?P<arg>"[^"]*"|'[^']*'))?)?$""")
_LITERAL = re.compile(r"""^("\{\{"|'\{\{')$""")


class PromptError(ValueError):
    """What is wrong with a prompt's variables, in words (the active language)."""


@dataclass(frozen=True)
class _Tag:
    name: str  # "" for a literal
    fmt: str | None = None
    literal: str = ""


def _parse(prompt: str) -> list[str | _Tag]:
    """The prompt as text pieces and tags; PromptError for the first malformed one."""
    parts: list[str | _Tag] = []
    pos = 0
    while True:
        start = prompt.find(OPEN, pos)
        if start < 0:
            parts.append(prompt[pos:])
            return parts
        parts.append(prompt[pos:start])
        end = prompt.find(CLOSE, start + 2)
        if end < 0:
            raise PromptError(
                gettext("'{{' at character %(position)s is not closed with '}}'; write %(literal)s for a literal '{{'")
                % {"position": start + 1, "literal": LITERAL_OPEN}
            )
        parts.append(_tag(prompt[start + 2 : end].strip(), position=start + 1))
        pos = end + 2


def _tag(inner: str, *, position: int) -> _Tag:
    if _LITERAL.match(inner):
        return _Tag(name="", literal=OPEN)
    match = _TAG.match(inner)
    if match is None:
        raise PromptError(
            gettext(
                "'{{ %(tag)s }}' at character %(position)s is not a variable: write {{ name }} or "
                '{{ name|date:"%%Y-%%m-%%d" }}, and %(literal)s for a literal \'{{\''
            )
            % {"tag": inner, "position": position, "literal": LITERAL_OPEN}
        )
    name, filter_name, arg = match["name"], match["filter"], match["arg"]
    if name not in NAMES:
        raise PromptError(
            gettext("unknown variable '%(name)s' at character %(position)s; the variables are %(names)s")
            % {"name": name, "position": position, "names": ", ".join(NAMES)}
        )
    if filter_name is None:
        return _Tag(name=name)
    if filter_name != "date" or arg is None:
        raise PromptError(
            gettext("unknown filter '%(filter)s' at character %(position)s; the one filter is date:\"<format>\"")
            % {"filter": filter_name if filter_name != "date" else inner, "position": position}
        )
    if name in ("timezone",):
        raise PromptError(
            gettext("'%(name)s' at character %(position)s is not a date and cannot be formatted")
            % {"name": name, "position": position}
        )
    fmt = arg[1:-1]
    if not fmt or len(fmt) > FORMAT_MAX_LENGTH:
        raise PromptError(
            gettext("the date format at character %(position)s must be 1 to %(max)s characters")
            % {"position": position, "max": FORMAT_MAX_LENGTH}
        )
    return _Tag(name=name, fmt=fmt)


def prompt_problem(prompt: str) -> str:
    """What is wrong with the variables of `prompt`, or "" (a save refuses the prompt)."""
    if OPEN not in prompt:
        return ""
    try:
        _parse(prompt)
    except PromptError as exc:
        return str(exc)
    return ""


@lru_cache(maxsize=4096)
def _moments(at: datetime, timezone: str) -> tuple[datetime, dict[str, date | datetime]]:
    local = at.astimezone(ZoneInfo(timezone))
    today = local.date()
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return local, {
        "date": today,
        "yesterday": today - timedelta(days=1),
        "tomorrow": today + timedelta(days=1),
        "week": today - timedelta(days=today.weekday()),
        "month": first,
        "previous_month": previous,
        "scheduled_for": local,
    }


@lru_cache(maxsize=4096)
def _values(at: datetime, timezone: str) -> tuple[tuple[str, str], ...]:
    local, moments = _moments(at, timezone)
    year, week, _ = moments["date"].isocalendar()
    return (
        ("date", moments["date"].isoformat()),
        ("yesterday", moments["yesterday"].isoformat()),
        ("tomorrow", moments["tomorrow"].isoformat()),
        ("week", f"{year}-W{week:02d}"),
        ("month", moments["month"].strftime("%Y-%m")),
        ("previous_month", moments["previous_month"].strftime("%Y-%m")),
        ("scheduled_for", local.isoformat()),
        ("timezone", timezone),
    )


def values_at(at: datetime, timezone: str) -> dict[str, str]:
    """Every variable's value at the instant `at` (aware), in the zone `timezone`."""
    return dict(_values(at, timezone))


def render(prompt: str, *, at: datetime, timezone: str) -> str:
    """`prompt` with its variables replaced by their values at `at` in `timezone`.

    A prompt that does not parse (stored before the rules existed) is sent as written rather
    than not at all: saving refuses it, a run never fails on it.
    """
    if OPEN not in prompt:
        return prompt
    try:
        parts = _parse(prompt)
    except PromptError:
        return prompt
    values = None
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part.literal:
            out.append(part.literal)
        elif part.fmt is not None:
            out.append(_moments(at, timezone)[1][part.name].strftime(part.fmt))
        else:
            values = values or dict(_values(at, timezone))
            out.append(values[part.name])
    return "".join(out)


def resolve(prompt: str, *, at: datetime, timezone: str) -> tuple[str, dict[str, str]]:
    """(the resolved prompt, every variable's value): what a run's snapshot stores.

    A prompt that names no variable keeps `{}`: firing writes hundreds of runs per batch,
    and their values would cost a conversion and a JSON document per row for nothing (the
    plane's local time is derived at dispatch, `runs.plane.base.local_metadata`).
    """
    if OPEN not in prompt:
        return prompt, {}
    return render(prompt, at=at, timezone=timezone), values_at(at, timezone)

"""Date-time input on the pages: the one field for a `datetime-local` value, and how a stored
instant is written back into one.

The editor keeps the wall time as typed (the services read it in the schedule's zone, which
the same form may be changing); the audit filters and the "Why didn't it run?" range read it
at once in the zone the page shows. A value with an offset is taken as it is.
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from config.api.fields import EARLIEST, LATEST
from schedules import timing

# What a datetime-local input sends, with or without seconds.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def input_text(wall: datetime) -> str:
    """A wall time as a datetime-local input writes it (seconds only when there are some)."""
    return wall.strftime(LOCAL_FORMAT + (":%S" if wall.second else ""))


def wall_text(instant: datetime | None, zone: str) -> str:
    """A stored instant as a datetime-local input shows it: local to `zone`, no offset."""
    if instant is None:
        return ""
    return input_text(instant.astimezone(timing.validate_timezone(zone)).replace(tzinfo=None))


class LocalDateTimeField(forms.Field):
    """A date and time such as 2026-12-01T09:00. With `zone`, read there into an aware
    instant; without, kept naive (a wall time for the services to read)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT)
    default_error_messages = {
        "invalid": _("Enter a date and time, e.g. 2026-12-01T09:00."),
        "range": _("Enter a year between %(earliest)s and %(latest)s."),
    }

    def __init__(self, *, zone: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.zone = zone

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).strip()[:40])
            except ValueError:
                raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not EARLIEST.year <= parsed.year <= LATEST.year:
            raise ValidationError(
                self.error_messages["range"], code="range", params={"earliest": EARLIEST.year, "latest": LATEST.year}
            )
        parsed = parsed.replace(microsecond=0)
        if self.zone is None or parsed.tzinfo is not None:
            return parsed
        try:
            return timing.wall_to_utc(parsed, timing.validate_timezone(self.zone))
        except (ValueError, OverflowError, timing.ScheduleError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


def read_local(value: str, zone: str, field: str) -> datetime:
    """One value outside a form (a page's query string): the field's reading, its error
    under `field`."""
    try:
        return LocalDateTimeField(zone=zone).clean(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None

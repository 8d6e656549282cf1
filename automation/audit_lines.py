"""The audit page's entries in words: one line that says what happened, the changed fields
as before -> after under the labels the editor shows (translated), and the full record for
the disclosure beneath.

An event stores raw field names and JSON values (`audit.services.record`); this module is
where a person's reading of them is made, so the audit app stays a leaf that knows nothing
of the pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import selectors
from audit.models import AuditAction, AuditEvent
from automation.editor import ERROR_FIELD, ScheduleForm
from automation.formatting import local_text
from schedules.models import OutputType, OverlapPolicy, Schedule, ScheduleType

# Labels of stored fields the editor does not show.
EXTRA_LABELS = {
    "paused_reason": gettext_lazy("Paused because"),
    "queued": gettext_lazy("Runs queued"),
    "from": gettext_lazy("From"),
    "to": gettext_lazy("To"),
    "first": gettext_lazy("First run"),
    "last": gettext_lazy("Last run"),
    "slug": gettext_lazy("Slug"),
    "role": gettext_lazy("Role"),
    "user": gettext_lazy("User"),
    "kind": gettext_lazy("Kind"),
    "target": gettext_lazy("Target"),
    "secret": gettext_lazy("Secret"),
}
# What an event is about, as a person says it.
TARGETS = {
    "organization": gettext_lazy("organization"),
    "membership": gettext_lazy("membership"),
    "agent": gettext_lazy("agent"),
    "alertchannel": gettext_lazy("alert channel"),
    "run": gettext_lazy("run"),
    "schedule": gettext_lazy("schedule"),
}
CHOICES = {"output_type": OutputType, "overlap_policy": OverlapPolicy, "schedule_type": ScheduleType}
TIMES = ("run_at", "start_at", "end_at", "from", "to", "first", "last")
LONG = 200  # characters of a value shown in a line; the full record has the rest


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class AuditLine:
    text: str  # what happened, in one sentence
    changes: list[Change] = field(default_factory=list)  # updates: only the changed fields
    record: str = ""  # the stored event, for the disclosure
    schedule_name: str = ""  # the schedule's name now (the page links it), "" when gone or none


def field_label(name: str) -> str:
    """The editor's label for a stored field (translated), else the model's, else the name."""
    form_field = ScheduleForm.base_fields.get(ERROR_FIELD.get(name, name))
    if form_field is not None and form_field.label:
        return str(form_field.label)
    if name in EXTRA_LABELS:
        return str(EXTRA_LABELS[name])
    try:
        return str(Schedule._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def value_text(name: str, value, zone: str) -> str:
    """A stored value as a person reads it: choices by label, times in `zone`, lists spaced."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name in CHOICES:
        try:
            return str(CHOICES[name](value).label)
        except ValueError:
            return str(value)
    if name in TIMES and isinstance(value, str):
        try:
            return local_text(datetime.fromisoformat(value), zone)
        except ValueError:
            return value
    if name == "interval_seconds" and isinstance(value, int):
        return _("%(n)s s") % {"n": value}
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return " ".join(str(v) for v in value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= LONG else text[: LONG - 1] + "…"


def _timing(data: dict, zone: str) -> str:
    kind, tz = data.get("schedule_type"), data.get("timezone") or "UTC"
    if kind == ScheduleType.CRON:
        return _("cron %(expression)s, %(zone)s") % {"expression": data.get("cron_expression", ""), "zone": tz}
    if kind == ScheduleType.INTERVAL:
        return _("every %(n)s s, %(zone)s") % {"n": data.get("interval_seconds"), "zone": tz}
    if kind == ScheduleType.ONCE:
        return _("once at %(time)s") % {"time": value_text("run_at", data.get("run_at"), tz)}
    return ""


def _changes(event: AuditEvent, zone: str, names=None) -> list[Change]:
    before, after = event.before or {}, event.after or {}
    names = names or [n for n in dict.fromkeys([*before, *after]) if before.get(n) != after.get(n)]
    return [Change(field_label(n), value_text(n, before.get(n), zone), value_text(n, after.get(n), zone)) for n in names]


def _schedule_line(event: AuditEvent, name: str, zone: str) -> AuditLine:
    action, data = event.action, event.after or event.before or {}
    quoted = {"name": name}
    if action == AuditAction.CREATE:
        return AuditLine(_("Created “%(name)s”, %(timing)s") % {**quoted, "timing": _timing(data, zone)})
    if action == AuditAction.UPDATE:
        changes = _changes(event, zone)
        return AuditLine(_("Changed “%(name)s”: %(fields)s") % {**quoted, "fields": ", ".join(c.label for c in changes)},
                         changes)
    if action == AuditAction.ENABLE:
        return AuditLine(_("Enabled “%(name)s”") % quoted)
    if action == AuditAction.DISABLE:
        reason = (event.after or {}).get("paused_reason")
        if reason:
            return AuditLine(_("Paused “%(name)s”: %(reason)s") % {**quoted, "reason": reason})
        return AuditLine(_("Disabled “%(name)s”") % quoted)
    if action == AuditAction.DELETE:
        return AuditLine(_("Deleted “%(name)s”, %(timing)s") % {**quoted, "timing": _timing(data, zone)})
    if action == AuditAction.BACKFILL:
        after = event.after or {}
        return AuditLine(
            _("Backfilled “%(name)s”: %(n)s runs from %(first)s to %(last)s") % {
                **quoted, "n": after.get("queued", 0),
                "first": value_text("first", after.get("first"), zone), "last": value_text("last", after.get("last"), zone),
            }
        )
    return _generic_line(event, name)


def _run_line(event: AuditEvent, name: str) -> AuditLine:
    if event.action == AuditAction.RUN_NOW:
        return AuditLine(_("Ran “%(name)s” now") % {"name": name})
    if event.action == AuditAction.RETRY:
        attempt = (event.after or {}).get("attempt", "")
        return AuditLine(_("Retried a run of “%(name)s” (attempt %(n)s)") % {"name": name, "n": attempt})
    return _generic_line(event, name)


def _generic_line(event: AuditEvent, name: str) -> AuditLine:
    """Organizations, memberships, agents, alert channels: "<Action> <target> “<name>”"."""
    target = str(TARGETS.get(event.target_type, event.target_type))
    text = _("%(action)s %(target)s “%(name)s”") % {"action": event.get_action_display(), "target": target, "name": name}
    changes = _changes(event, "UTC") if event.action == AuditAction.UPDATE else []
    return AuditLine(text, changes)


def _name(event: AuditEvent, schedule_name: str) -> str:
    data = {**(event.before or {}), **(event.after or {})}
    if event.target_type in ("schedule", "run"):
        return data.get("name") if event.target_type == "schedule" and data.get("name") else (schedule_name or event.target_id)
    for key in ("name", "slug", "user"):
        if data.get(key):
            return str(data[key])
    return event.target_id


def full_record(event: AuditEvent) -> str:
    """The event as stored (what the API answers), for the disclosure."""
    record = {"before": event.before, "after": event.after, "target": f"{event.target_type} {event.target_id}"}
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True)


@dataclass
class _Shown:
    """An event with its values as a reader may see them (an alert channel's target masked:
    audit.selectors.shown_changes); everything else is the event's."""

    event: AuditEvent
    before: dict | None
    after: dict | None

    def __getattr__(self, name):
        return getattr(self.event, name)


def audit_line(event: AuditEvent, *, schedule_name: str, zone: str) -> AuditLine:
    event = _Shown(event, *selectors.shown_changes(event))
    name = _name(event, schedule_name)
    if event.target_type == "schedule":
        line = _schedule_line(event, name, zone)
    elif event.target_type == "run":
        line = _run_line(event, name)
    else:
        line = _generic_line(event, name)
    line.record = full_record(event)
    line.schedule_name = schedule_name
    return line

"""The schedule editor's form: what a person types, read into what the services take.

The form only parses (text, whole numbers, date-times, choices). Whether a schedule makes
sense is decided by `schedules.services` and `schedules.timing`; their ValidationError
({field: message}) is put beside the field that shows it (`add_service_errors`).
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from automation.datetimes import LocalDateTimeField, input_text, wall_text
from automation.outcome_fields import OutcomeFields, outcome_initial
from schedules import timing
from schedules.timing import calendars
from schedules.models import (
    JITTER_MAX_SECONDS,
    Agent,
    OutputType,
    OverlapPolicy,
    Schedule,
    ScheduleType,
    default_retry_backoff,
)

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
UNIT_CHOICES = [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))]
SECONDS_CHOICE = ("seconds", _("seconds"))  # offered only for a stored interval that needs it

TYPE_CHOICES = [(ScheduleType.CRON, _("Cron")), (ScheduleType.INTERVAL, _("Interval")), (ScheduleType.ONCE, _("Once"))]
# Fields that mean something for one schedule type only; the others' input is ignored.
TYPE_FIELDS = {
    ScheduleType.CRON: ("cron_expression",),
    ScheduleType.INTERVAL: ("every", "every_unit"),
    ScheduleType.ONCE: ("run_at",),
}
# A service's field name -> the form field that shows its error (the same name otherwise).
ERROR_FIELD = {"interval_seconds": "every", "retry_backoff_seconds": "retry_backoff", "success_checks": "check_json_schema"}

# One-click cron presets: (expression, label), or (expression, label, calendar). A preset is
# a whole timing: it sets the calendar too ("" for none).
CRON_PRESETS = [
    ("0 * * * *", _("Every hour")),
    ("0 9 * * *", _("Every day at 09:00")),
    ("0 9 * * 1-5", _("Weekdays at 09:00")),
    # Every day by the expression: the calendar decides, make-up Saturdays and Sundays included.
    ("0 9 * * *", _("Workdays (China, official calendar) at 09:00"), calendars.CHINA),
    ("0 9 * * 1", _("Every Monday at 09:00")),
    ("0 9 1 * *", _("First day of the month")),
]


def preset_buttons() -> list[dict]:
    """The presets as the template shows them: the posted value names the calendar too."""
    out = []
    for expression, label, *calendar in CRON_PRESETS:
        calendar = calendar[0] if calendar else ""
        value = f"{expression}|{calendar}" if calendar else expression
        out.append({"value": value, "expression": expression, "calendar": calendar, "label": label})
    return out


def preset_timing(value: str | None) -> tuple[str, str] | None:
    """(expression, calendar) of a posted preset value; None when it is not one of ours."""
    for button in preset_buttons():
        if button["value"] == value:
            return button["expression"], button["calendar"]
    return None


class BackoffField(forms.CharField):
    """Seconds before each retry, separated by spaces or commas: "30 60 300"."""

    default_error_messages = {
        "invalid": _("Enter whole numbers of seconds separated by spaces, e.g. 30 60 300 900 3600."),
    }

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            return [int(part) for part in text.replace(",", " ").split()]
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value):
        return " ".join(str(v) for v in value) if isinstance(value, list) else value


def jitter_note(jitter_seconds: int) -> str:
    """What the preview says under its times when the schedule has jitter.

    The times stay the occurrences (each run records its own as `scheduled_for`); the note
    says when the runs start: a fixed delay after each, a hash of the schedule and the
    occurrence (schedules/timing/jitter.py), which a schedule not yet saved does not have.
    """
    if not jitter_seconds:
        return ""
    return _(
        "With jitter, each run starts up to %(seconds)s s after the time shown: a delay fixed for each "
        "schedule and run, the same on every replica."
    ) % {"seconds": jitter_seconds}


def _number(label, help_text, *, minimum, maximum, required=True):
    return forms.IntegerField(label=label, help_text=help_text, min_value=minimum, max_value=maximum, required=required)


class ScheduleForm(OutcomeFields):  # + "Success means" and "Budget" (automation/outcome_fields.py)
    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("e.g. Weekday sales brief"))
    agent = forms.ChoiceField(label=_("Agent"))
    prompt = forms.CharField(
        label=_("Prompt"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What the agent is asked, e.g. Summarise yesterday's sales by region."),
    )
    output_type = forms.ChoiceField(label=_("Output type"), choices=OutputType.choices)
    schedule_type = forms.ChoiceField(label=_("Schedule type"), choices=TYPE_CHOICES, widget=forms.RadioSelect)
    cron_expression = forms.CharField(
        label=_("Cron expression"),
        max_length=120,
        required=False,
        help_text=_("minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5"),
    )
    every = forms.IntegerField(label=_("Every"), min_value=1, required=False)
    every_unit = forms.ChoiceField(label=_("Unit"), choices=UNIT_CHOICES, required=False)
    run_at = LocalDateTimeField(label=_("Run at"), required=False)
    calendar = forms.CharField(
        label=_("Workday calendar"),
        max_length=32,
        required=False,
        help_text=_(
            "Optional: run only on working days. cn-workdays is China's official calendar (make-up days "
            "included); us-workdays, de-by-workdays and the like are Monday-Friday minus public holidays."
        ),
        widget=forms.TextInput(attrs={"list": "schedule-calendars", "autocomplete": "off", "spellcheck": "false"}),
    )
    timezone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        help_text=_("Type to search, e.g. Asia/Shanghai or UTC."),
        widget=forms.TextInput(attrs={"list": "schedule-zones", "autocomplete": "off", "spellcheck": "false"}),
    )
    # Advanced: defaults as the model's.
    max_retries = _number(_("Max retries"), _("Automatic retries of a failed run, 0 to 10."), minimum=0, maximum=10)
    retry_backoff = BackoffField(
        label=_("Back-off (seconds)"),
        max_length=200,
        help_text=_("Wait before each retry; the last value repeats. e.g. 30 60 300 900 3600"),
    )
    timeout_seconds = _number(
        _("Timeout (seconds)"), _("A run still running after this is stopped, e.g. 1800 (30 minutes)."),
        minimum=1, maximum=7 * 86400,
    )
    overlap_policy = forms.ChoiceField(label=_("When the previous run is still running"), choices=OverlapPolicy.choices)
    max_concurrency = _number(
        _("Max concurrency"), _("Runs of this schedule queued or running at once, e.g. 1."), minimum=1, maximum=100
    )
    catchup_window_seconds = _number(
        _("Catch-up window (seconds)"),
        _("After downtime, the newest missed run still fires if it is this recent, e.g. 3600."),
        minimum=0, maximum=366 * 86400,
    )
    jitter_seconds = _number(
        _("Jitter (seconds)"),
        _("Optional: start each run up to this many seconds after its time, the same delay every time for a "
          "given run, e.g. 300 when many schedules share 09:00. 0: on time."),
        minimum=0, maximum=JITTER_MAX_SECONDS, required=False,
    )
    start_at = LocalDateTimeField(label=_("Active from"), required=False, help_text=_("Optional: no run before this."))
    end_at = LocalDateTimeField(label=_("Active until"), required=False, help_text=_("Optional: no run after this."))
    alert_after_failures = _number(
        _("Alert after failures"), _("Consecutive failures that raise an alert, e.g. 3."), minimum=1, maximum=1000
    )
    pause_after_failures = _number(
        _("Pause after failures"),
        _("Optional: after this many consecutive failures the schedule disables itself, e.g. 5. Empty: never."),
        minimum=1, maximum=1000, required=False,
    )

    ADVANCED = (
        "max_retries", "retry_backoff", "timeout_seconds", "overlap_policy", "max_concurrency",
        "catchup_window_seconds", "jitter_seconds", "start_at", "end_at", "alert_after_failures", "pause_after_failures",
    )

    def __init__(self, data=None, *, agents: list[Agent], schedule: Schedule | None = None, zone: str = "UTC"):
        self.schedule = schedule
        initial = {**self._initial(schedule, zone), **outcome_initial(schedule)}
        super().__init__(data, initial=initial, auto_id="schedule-%s")
        choices = [(a.slug, a.name) for a in agents if a.enabled]
        if schedule is not None and not schedule.agent.enabled:
            # Kept selectable, so editing the name does not silently change the agent.
            choices.insert(0, (schedule.agent.slug, _("%(name)s (disabled)") % {"name": schedule.agent.name}))
        self.fields["agent"].choices = choices
        if not choices:
            self.fields["agent"].help_text = _("No agent is enabled in this organization: ask an admin to add or enable one.")
        self.agents = {a.slug: a for a in agents}
        if self.initial.get("every_unit") == "seconds" or (data or {}).get("every_unit") == "seconds":
            self.fields["every_unit"].choices = [SECONDS_CHOICE, *UNIT_CHOICES]

    @staticmethod
    def _initial(schedule: Schedule | None, zone: str) -> dict:
        if schedule is None:
            return {
                "schedule_type": ScheduleType.CRON,
                "output_type": OutputType.MARKDOWN,
                "timezone": zone,
                "every_unit": "hours",
                "max_retries": 3,
                "retry_backoff": default_retry_backoff(),
                "timeout_seconds": 1800,
                "overlap_policy": OverlapPolicy.SKIP,
                "max_concurrency": 1,
                "catchup_window_seconds": 3600,
                "jitter_seconds": 0,
                "alert_after_failures": 3,
            }
        every, unit = None, "hours"
        if schedule.interval_seconds:
            unit = next((name for name in ("days", "hours", "minutes") if schedule.interval_seconds % UNITS[name] == 0),
                        "seconds")
            every = schedule.interval_seconds // UNITS.get(unit, 1)
        zone = schedule.timezone
        return {
            "name": schedule.name,
            "agent": schedule.agent.slug,
            "prompt": schedule.prompt,
            "output_type": schedule.output_type,
            "schedule_type": schedule.schedule_type,
            "cron_expression": schedule.cron_expression,
            "every": every,
            "every_unit": unit,
            "run_at": wall_text(schedule.run_at, zone),
            "timezone": zone,
            "calendar": schedule.calendar,
            "max_retries": schedule.max_retries,
            "retry_backoff": schedule.retry_backoff_seconds,
            "timeout_seconds": schedule.timeout_seconds,
            "overlap_policy": schedule.overlap_policy,
            "max_concurrency": schedule.max_concurrency,
            "catchup_window_seconds": schedule.catchup_window_seconds,
            "jitter_seconds": schedule.jitter_seconds,
            "start_at": wall_text(schedule.start_at, zone),
            "end_at": wall_text(schedule.end_at, zone),
            "alert_after_failures": schedule.alert_after_failures,
            "pause_after_failures": schedule.pause_after_failures,
        }

    def clean_timezone(self):
        zone = self.cleaned_data["timezone"].strip()
        try:
            timing.validate_timezone(zone)
        except timing.ScheduleError as exc:
            raise ValidationError(exc.message) from None
        return zone

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("schedule_type")
        for kind, names in TYPE_FIELDS.items():
            if kind != chosen:
                for name in names:
                    # Another type's field: what is typed there is not saved, so not judged.
                    self.errors.pop(name, None)
                    cleaned[name] = None
        return cleaned

    def _instant(self, name: str) -> datetime | None:
        """A typed date-time as typed (naive: the services read it as local to the schedule's
        zone); an untouched one keeps its stored instant, so a second-precise or
        second-occurrence time is not rounded by being shown."""
        wall, zone = self.cleaned_data.get(name), self.cleaned_data.get("timezone")
        if wall is None or not zone:
            return None
        stored = getattr(self.schedule, name, None)
        if stored is not None and zone == self.schedule.timezone and wall_text(stored, zone) == input_text(wall):
            return stored
        return wall

    def timing_spec(self) -> timing.Spec:
        """The timing typed so far, for the preview (valid fields only), its date-times read
        as local to its zone the way the services read them when saving."""
        data = self.cleaned_data
        return timing.read_local_times(timing.Spec(
            schedule_type=data.get("schedule_type") or ScheduleType.CRON,
            timezone=data.get("timezone") or "UTC",
            cron_expression=data.get("cron_expression") or "",
            interval_seconds=self.interval_seconds(),
            run_at=self._instant("run_at"),
            start_at=self._instant("start_at"),
            end_at=self._instant("end_at"),
            calendar=(data.get("calendar") or "").strip(),
        ))

    def interval_seconds(self) -> int | None:
        every, unit = self.cleaned_data.get("every"), self.cleaned_data.get("every_unit") or "hours"
        if every is None:
            return None
        return every * UNITS.get(unit, 1)

    def service_data(self) -> dict:
        """What `schedule_create` / `schedule_update` take, from a valid form."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "agent": self.agents[data["agent"]],
            "prompt": data["prompt"],
            "output_type": data["output_type"],
            "schedule_type": data["schedule_type"],
            "cron_expression": data.get("cron_expression") or "",
            "interval_seconds": self.interval_seconds(),
            "run_at": self._instant("run_at"),
            "timezone": data["timezone"],
            "calendar": (data.get("calendar") or "").strip(),
            "start_at": self._instant("start_at"),
            "end_at": self._instant("end_at"),
            "max_retries": data["max_retries"],
            "retry_backoff_seconds": data["retry_backoff"],
            "timeout_seconds": data["timeout_seconds"],
            "overlap_policy": data["overlap_policy"],
            "max_concurrency": data["max_concurrency"],
            "catchup_window_seconds": data["catchup_window_seconds"],
            "jitter_seconds": data.get("jitter_seconds") or 0,
            "alert_after_failures": data["alert_after_failures"],
            "pause_after_failures": data.get("pause_after_failures"),
            **self.outcome_data(),
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show a service's {field: message} beside the field that holds the input."""
        for field, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            name = ERROR_FIELD.get(field, field)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)

    def mark_invalid_fields(self) -> None:
        """Tie each input to its help and error text (aria-describedby) and flag the invalid
        ones (aria-invalid), as the template renders them (`<id>-help`, `<id>-error`)."""
        for name, field in self.fields.items():
            bound = self[name]
            described = [f"{bound.auto_id}-help"] if field.help_text else []
            if name in self.errors:
                described.append(f"{bound.auto_id}-error")
                field.widget.attrs["aria-invalid"] = "true"
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def field_errors(self):
        """(field, messages) of every field with an error, in the form's order (the summary)."""
        return [(self[name], self.errors[name]) for name in self.fields if name in self.errors]

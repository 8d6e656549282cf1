"""API shapes for schedules: input serializers validate, output serializers answer.

Input serializers check form only (types, ranges, lengths, cron and time-zone syntax, with
messages that name the field); the rules that need the stored row (agent of the org, `once`
in the future, interval bounds against the anchor) are the services', whose
ValidationError becomes the same 400.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import BoundedDateTimeField
from schedules import timing
from schedules.models import OutputType, OverlapPolicy, Schedule, ScheduleType

INT32_MAX = 2**31 - 1
MAX_DESCRIPTION_LENGTH = 10_000
MAX_PARAMS_BYTES = 64_000


class StrictFieldsMixin:
    """Unknown input fields are an error, not silently dropped (a typo must not be lost)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            output_only = getattr(self, "output_only_fields", ())
            unknown = {
                name: ["read-only field" if name in output_only else "unknown field"]
                for name in data
                if name not in self.fields or self.fields[name].read_only
            }
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


class LocalDateTimeField(BoundedDateTimeField):
    """A date-time without an offset stays naive: the service reads it in the schedule's zone
    (timing.read_local_times)."""

    def enforce_timezone(self, value):
        return value if value.tzinfo is None else super().enforce_timezone(value)


def _check_json(value, path="params", depth=0):
    """Reject what PostgreSQL's jsonb cannot store (\\u0000) and absurd nesting."""
    if depth > 20:
        raise serializers.ValidationError(f"{path} is nested too deeply (20 levels at most)")
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError(f"{path} must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError(f"{path} contains an invalid character") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, path, depth + 1)
            _check_json(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}.{index}", depth + 1)


class ParamsField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("params must be a JSON object, e.g. {\"region\": \"APAC\"}")
        _check_json(value)
        if len(json.dumps(value)) > MAX_PARAMS_BYTES:
            raise serializers.ValidationError(f"params must be at most {MAX_PARAMS_BYTES} bytes of JSON")
        return value


@extend_schema_field({"type": "object", "additionalProperties": True, "example": {"region": "APAC"}})
class ParamsSchemaField(ParamsField):
    pass


@extend_schema_field(
    {"type": "array", "items": {"type": "object", "additionalProperties": True},
     "example": [{"kind": "output_present"}, {"kind": "min_size", "bytes": 1024}]}
)
class SuccessChecksField(serializers.JSONField):
    """Form only (a list); what each check means is schedules.checks', called by the services."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, list):
            raise serializers.ValidationError('success_checks must be a list, e.g. [{"kind": "output_present"}]')
        _check_json(value, "success_checks")
        return value


def MONEY(**kwargs):
    return serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True,
        coerce_to_string=False, **kwargs,
    )


CALENDAR_FIELD = serializers.CharField(
    max_length=32,
    required=False,
    allow_blank=True,
    help_text=(
        "Optional workday calendar: fire only on its working days. 'cn-workdays' (China's official calendar, "
        "make-up days included) or '<country>[-<subdivision>]-workdays' (Monday-Friday minus public holidays), "
        "e.g. 'us-workdays', 'de-by-workdays'. Empty: none. Not for once schedules."
    ),
)


class ScheduleInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Create (POST) and replace (PUT) take this; PATCH takes it with every field optional."""

    output_only_fields = (
        "id",
        "status",
        "timing_description",
        "next_run_at",
        "last_run_at",
        "consecutive_failures",
        "timing_error",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )

    org = serializers.SlugField(
        max_length=64,
        required=False,
        help_text="Org slug, e.g. 'demo'. May be left out when you belong to exactly one org. Cannot change.",
    )
    agent = serializers.SlugField(max_length=64, help_text="Agent slug in the org, e.g. 'echo'.")
    name = serializers.CharField(max_length=200, help_text="e.g. 'Weekday sales report'.")
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True, help_text="Free text for people."
    )
    prompt = serializers.CharField(
        max_length=settings.SCHEDULE_PROMPT_MAX_LENGTH,
        trim_whitespace=False,
        help_text=(
            f"What the agent is asked; at most {settings.SCHEDULE_PROMPT_MAX_LENGTH} characters "
            "(setting SCHEDULE_PROMPT_MAX_LENGTH)."
        ),
    )
    output_type = serializers.ChoiceField(choices=OutputType.choices, required=False)
    params = ParamsSchemaField(required=False, help_text="Passed to the execution plane as is.")
    schedule_type = serializers.ChoiceField(choices=ScheduleType.choices, required=False)
    cron_expression = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        help_text="cron: 5 fields (or @daily ...; L = last day of month), e.g. '0 9 * * 1-5'.",
    )
    interval_seconds = serializers.IntegerField(
        min_value=1,
        max_value=INT32_MAX,
        required=False,
        allow_null=True,
        help_text=(
            f"interval: seconds between runs, {settings.SCHEDULE_MIN_INTERVAL_SECONDS} to "
            f"{settings.SCHEDULE_MAX_INTERVAL_SECONDS}, e.g. 3600."
        ),
    )
    run_at = LocalDateTimeField(
        required=False, allow_null=True, help_text="once: the fire time, in the future; without an offset, local time."
    )
    timezone = serializers.CharField(max_length=64, required=False, help_text="IANA name, e.g. 'Asia/Shanghai'.")
    start_at = LocalDateTimeField(required=False, allow_null=True, help_text="Optional: no run before this.")
    end_at = LocalDateTimeField(required=False, allow_null=True, help_text="Optional: no run after this.")
    calendar = CALENDAR_FIELD
    enabled = serializers.BooleanField(required=False)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=100, required=False)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices, required=False)
    max_retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    retry_backoff_seconds = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=86400),
        min_length=1,
        max_length=20,
        required=False,
        help_text="Seconds before each retry; the last value repeats, e.g. [30, 60, 300].",
    )
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=7 * 86400, required=False)
    catchup_window_seconds = serializers.IntegerField(min_value=0, max_value=366 * 86400, required=False)
    alert_after_failures = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    pause_after_failures = serializers.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        allow_null=True,
        help_text="Optional: after this many consecutive failures the schedule disables itself; null: never.",
    )
    source_session_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    source_message_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    success_checks = SuccessChecksField(
        required=False,
        help_text=(
            "What success means, checked when the session succeeded; a failed check fails the run "
            "(output_check_failed). Kinds: output_present, min_size {bytes}, contains {text}, not_contains {text}, "
            "regex {pattern} (RE2), json_schema {schema} (output type json). Left out on create: "
            '[{"kind": "output_present"}] for output types other than none and text.'
        ),
    )
    retry_failed_checks = serializers.BooleanField(
        required=False, help_text="Retry a run whose output failed a check, like any failure (default true)."
    )
    monthly_token_budget = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True,
        help_text="Tokens per calendar month in the schedule's zone; null: no limit.",
    )
    monthly_cost_budget_usd = MONEY(help_text="US dollars per calendar month in the schedule's zone; null: no limit.")
    max_tokens = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True,
        help_text="Per-run cap passed to the execution plane in metadata (for runtimes that enforce it).",
    )
    max_cost_usd = MONEY(help_text="Per-run cap in US dollars passed to the execution plane in metadata.")

    # The timing checks raise ScheduleError, a Django ValidationError: DRF reports it as this
    # field's error beside the others.
    def validate_timezone(self, value):
        timing.validate_timezone(value)
        return value

    def validate_cron_expression(self, value):
        return timing.validate_cron(value) if value else value


class PreviewInputSerializer(StrictFieldsMixin, serializers.Serializer):
    schedule_type = serializers.ChoiceField(choices=ScheduleType.choices)
    cron_expression = serializers.CharField(max_length=120, required=False, allow_blank=True)
    interval_seconds = serializers.IntegerField(min_value=1, max_value=INT32_MAX, required=False, allow_null=True)
    run_at = LocalDateTimeField(required=False, allow_null=True)
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    start_at = LocalDateTimeField(required=False, allow_null=True, help_text="interval: the anchor.")
    end_at = LocalDateTimeField(required=False, allow_null=True)
    calendar = CALENDAR_FIELD
    after = BoundedDateTimeField(required=False, help_text="List fire times after this (default: now).")
    count = serializers.IntegerField(min_value=1, max_value=50, default=5, help_text="How many fire times, 1-50.")

    validate_timezone = ScheduleInputSerializer.validate_timezone
    validate_cron_expression = ScheduleInputSerializer.validate_cron_expression


class CalendarDaySerializer(serializers.Serializer):
    """One local date in a workday calendar's words (the preview's changes, the dry run's decisions)."""

    date = serializers.DateField()
    reason = serializers.CharField(help_text="e.g. 'not a workday in cn-workdays: National Day', 'make-up workday'.")
    missing_data = serializers.BooleanField(help_text="The calendar has no data for the year: decided by the weekday.")


class CalendarChangeSerializer(CalendarDaySerializer):
    change = serializers.ChoiceField(
        choices=["added", "removed"], help_text="added: a weekend the calendar makes a workday; removed: a weekday off."
    )


class CalendarSerializer(serializers.Serializer):
    name = serializers.CharField()
    data_range = serializers.ListField(child=serializers.IntegerField(), help_text="[first year, last year] with data.")


class CalendarPreviewSerializer(CalendarSerializer):
    warning = serializers.CharField(help_text="Non-empty when the expression also restricts the days of the week.")
    changes = CalendarChangeSerializer(many=True, help_text="Among the next runs, the dates that differ from Monday-Friday.")


class PreviewSerializer(serializers.Serializer):
    description = serializers.CharField(help_text="e.g. 'At 09:00, Monday through Friday'.")
    timezone = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.DateTimeField(), help_text="UTC, ISO 8601.")
    next_runs_local = serializers.ListField(
        child=serializers.CharField(), help_text="The same times in the schedule's zone, ISO 8601 with offset."
    )
    calendar = CalendarPreviewSerializer(allow_null=True, help_text="With a calendar: what it changes; else null.")


# --- Output --------------------------------------------------------------------------------

def timing_description(schedule: Schedule) -> str:
    """timing.describe in the request's language.

    Not memoised here: a process-wide cache keyed on some of the fields answered one org's
    window dates to another org. `describe` caches the costly part (the cron wording) on
    exactly what shapes it; the rest is string formatting.
    """
    language = translation.get_language() or settings.LANGUAGE_CODE
    try:
        return timing.describe(schedule.timing_spec(), language)
    except timing.ScheduleError as exc:
        return f"invalid: {exc.message}"


def iso(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it (UTC with a Z)."""
    if value is None:
        return None
    text = value.astimezone(timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _username(schedule: Schedule, field: str) -> str | None:
    """From the `<field>_username` annotation of list querysets, else from the user row."""
    if getattr(schedule, f"{field}_id") is None:
        return None
    annotated = getattr(schedule, f"{field}_username", None)
    return annotated if annotated is not None else getattr(schedule, field).get_username()


def _money(value):
    """As DecimalField(coerce_to_string=False) writes it: a number with 2 decimals, or null."""
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _related_slug(schedule: Schedule, field: str) -> str:
    annotated = getattr(schedule, f"{field}_slug", None)
    return annotated if annotated is not None else getattr(schedule, field).slug


def for_list(queryset):
    """Annotate the org and agent slugs and the usernames instead of joining whole rows:
    building 4 model instances per listed schedule costs more than the page query."""
    name = get_user_model().USERNAME_FIELD
    return queryset.annotate(
        org_slug=F("org__slug"),
        agent_slug=F("agent__slug"),
        created_by_username=F(f"created_by__{name}"),
        updated_by_username=F(f"updated_by__{name}"),
    )


class ScheduleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    org = serializers.SlugField(source="org.slug")
    agent = serializers.SlugField(source="agent.slug")
    name = serializers.CharField()
    description = serializers.CharField()
    prompt = serializers.CharField()
    output_type = serializers.ChoiceField(choices=OutputType.choices)
    params = serializers.JSONField()
    schedule_type = serializers.ChoiceField(choices=ScheduleType.choices)
    cron_expression = serializers.CharField()
    interval_seconds = serializers.IntegerField(allow_null=True)
    run_at = serializers.DateTimeField(allow_null=True)
    timezone = serializers.CharField()
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    calendar = serializers.CharField(help_text="Workday calendar, e.g. 'cn-workdays'; empty: none.")
    timing_description = serializers.SerializerMethodField(help_text="When it runs, in words.")
    enabled = serializers.BooleanField()
    status = serializers.ChoiceField(
        choices=["ok", "failing", "disabled", "finished"], help_text="Derived: ok, failing, disabled or finished."
    )
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="UTC; null when disabled or finished.")
    last_run_at = serializers.DateTimeField(allow_null=True)
    max_concurrency = serializers.IntegerField()
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices)
    max_retries = serializers.IntegerField()
    retry_backoff_seconds = serializers.ListField(child=serializers.IntegerField())
    timeout_seconds = serializers.IntegerField()
    catchup_window_seconds = serializers.IntegerField()
    alert_after_failures = serializers.IntegerField()
    pause_after_failures = serializers.IntegerField(allow_null=True)
    paused_reason = serializers.CharField(help_text="Why the schedule paused itself; empty unless it did.")
    consecutive_failures = serializers.IntegerField()
    timing_error = serializers.CharField()
    source_session_id = serializers.CharField()
    source_message_id = serializers.CharField()
    success_checks = serializers.JSONField(help_text="What success means (see the input's description).")
    retry_failed_checks = serializers.BooleanField()
    monthly_token_budget = serializers.IntegerField(allow_null=True)
    monthly_cost_budget_usd = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=False)
    max_tokens = serializers.IntegerField(allow_null=True)
    max_cost_usd = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=False)
    created_by = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, schedule):
        # The list endpoint answers 50 rows of 37 fields; DRF's field-by-field machinery
        # costs more than the page query. This builds the same dict directly (a test holds
        # it equal to the generic path).
        return {
            "id": str(schedule.pk),
            "org": _related_slug(schedule, "org"),
            "agent": _related_slug(schedule, "agent"),
            "name": schedule.name,
            "description": schedule.description,
            "prompt": schedule.prompt,
            "output_type": schedule.output_type,
            "params": schedule.params,
            "schedule_type": schedule.schedule_type,
            "cron_expression": schedule.cron_expression,
            "interval_seconds": schedule.interval_seconds,
            "run_at": iso(schedule.run_at),
            "timezone": schedule.timezone,
            "start_at": iso(schedule.start_at),
            "end_at": iso(schedule.end_at),
            "calendar": schedule.calendar,
            "timing_description": timing_description(schedule),
            "enabled": schedule.enabled,
            "status": str(schedule.status),
            "next_run_at": iso(schedule.next_run_at),
            "last_run_at": iso(schedule.last_run_at),
            "max_concurrency": schedule.max_concurrency,
            "overlap_policy": schedule.overlap_policy,
            "max_retries": schedule.max_retries,
            "retry_backoff_seconds": schedule.retry_backoff_seconds,
            "timeout_seconds": schedule.timeout_seconds,
            "catchup_window_seconds": schedule.catchup_window_seconds,
            "alert_after_failures": schedule.alert_after_failures,
            "pause_after_failures": schedule.pause_after_failures,
            "paused_reason": schedule.paused_reason,
            "consecutive_failures": schedule.consecutive_failures,
            "timing_error": schedule.timing_error,
            "source_session_id": schedule.source_session_id,
            "source_message_id": schedule.source_message_id,
            "success_checks": schedule.success_checks,
            "retry_failed_checks": schedule.retry_failed_checks,
            "monthly_token_budget": schedule.monthly_token_budget,
            "monthly_cost_budget_usd": _money(schedule.monthly_cost_budget_usd),
            "max_tokens": schedule.max_tokens,
            "max_cost_usd": _money(schedule.max_cost_usd),
            "created_by": self.get_created_by(schedule),
            "updated_by": self.get_updated_by(schedule),
            "created_at": iso(schedule.created_at),
            "updated_at": iso(schedule.updated_at),
        }

    @extend_schema_field(OpenApiTypes.STR)
    def get_timing_description(self, schedule) -> str:
        return timing_description(schedule)

    @extend_schema_field({"type": "string", "nullable": True, "description": "Username."})
    def get_created_by(self, schedule):
        return _username(schedule, "created_by")

    @extend_schema_field({"type": "string", "nullable": True, "description": "Username."})
    def get_updated_by(self, schedule):
        return _username(schedule, "updated_by")

"""API shape of a run, and the example the schema shows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs.models import RunStatus, ScheduleRun, TriggerType
from schedules.api.serializers import CalendarDaySerializer, CalendarSerializer

RUN_EXAMPLE = {
    "id": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "job_run_id": "3f2a9c1e8b7d4e6fa5b4c3d2e1f0a9b8-manual-5d41402abc4b2a76b9719d91",
    "schedule": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
    "org": "demo",
    "trigger_type": "manual",
    "attempt": 1,
    "retry_of": None,
    "scheduled_for": "2026-11-30T08:05:00Z",
    "status": "queued",
    "not_before": None,
    "queued_at": "2026-11-30T08:05:00Z",
    "started_at": None,
    "finished_at": None,
    "duration_seconds": None,
    "session_id": "",
    "message_id": "",
    "outputs": [],
    "answer": "",
    "usage": None,
    "error_code": "",
    "error_message": "",
    "missed_count": 0,
    "agent": "sales-analyst",
    "prompt": "Summarise yesterday's sales as a PDF.",
    "output_type": "pdf",
    "params": {"region": "APAC"},
    "variables": {
        "date": "2026-11-30", "yesterday": "2026-11-29", "tomorrow": "2026-12-01", "week": "2026-W49",
        "month": "2026-11", "previous_month": "2026-10", "scheduled_for": "2026-11-30T16:05:00+08:00",
        "timezone": "Asia/Shanghai",
    },
    "calendar_note": "",
    "triggered_by": "alice",
    "created_at": "2026-11-30T08:05:00Z",
}


class RunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job_run_id = serializers.CharField(help_text="The idempotency key sent to the execution plane.")
    schedule = serializers.UUIDField(source="schedule_id")
    org = serializers.SlugField(source="org.slug")
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices)
    attempt = serializers.IntegerField()
    retry_of = serializers.UUIDField(source="retry_of_id", allow_null=True)
    scheduled_for = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    not_before = serializers.DateTimeField(allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    session_id = serializers.CharField()
    message_id = serializers.CharField()
    outputs = serializers.JSONField(help_text='e.g. [{"type": "pdf", "name": "report.pdf", "url": "https://..."}]')
    answer = serializers.CharField(help_text="The agent's answer as text, when the plane returned one (at most 64 KiB).")
    usage = serializers.SerializerMethodField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    missed_count = serializers.IntegerField()
    agent = serializers.CharField(source="agent_slug", help_text="What was sent (a snapshot).")
    prompt = serializers.CharField()
    output_type = serializers.CharField()
    params = serializers.JSONField()
    variables = serializers.JSONField(
        help_text="The run variables at its occurrence, in the schedule's zone; `prompt` is already resolved with them."
    )
    calendar_note = serializers.CharField(
        help_text="Set when the workday calendar had no data for the year, e.g. 'calendar data missing for 2027; ...'."
    )
    triggered_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "What the session used, as the execution plane reported it; null when it reported nothing.",
            "properties": {
                "input_tokens": {"type": "integer", "nullable": True},
                "output_tokens": {"type": "integer", "nullable": True},
                "total_tokens": {"type": "integer", "nullable": True},
                "cost_usd": {"type": "number", "nullable": True},
            },
        }
    )
    def get_usage(self, run: ScheduleRun):
        if run.total_tokens is None and run.cost_usd is None:
            return None
        return {
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "total_tokens": run.total_tokens,
            "cost_usd": float(run.cost_usd) if run.cost_usd is not None else None,
        }

    @extend_schema_field({"type": "string", "nullable": True, "description": "Username, for manual runs."})
    def get_triggered_by(self, run: ScheduleRun):
        return run.triggered_by.get_username() if run.triggered_by_id else None


class CalendarDecisionSerializer(CalendarDaySerializer):
    workday = serializers.BooleanField()


class DryRunCalendarSerializer(CalendarSerializer):
    note = serializers.CharField(help_text="The next run's calendar note (missing data), or empty.")
    decisions = CalendarDecisionSerializer(many=True, help_text="The next 10 local dates, from today.")


class DryRunSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField(help_text="The next occurrence, UTC.")
    request = serializers.JSONField(
        help_text="The body the execution plane would receive: agent, resolved prompt, output_type, params, metadata."
    )
    variables = serializers.JSONField(help_text="The run variables at that occurrence.")
    calendar = DryRunCalendarSerializer(allow_null=True)


DRY_RUN_EXAMPLE = {
    "scheduled_for": "2026-12-07T01:00:00Z",
    "request": {
        "agent": "sales-analyst",
        "prompt": "Summarise the sales of 2026-12-06 by region as a PDF.",
        "output_type": "pdf",
        "params": {},
        "metadata": {
            "trigger_type": "scheduled",
            "schedule_id": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
            "job_run_id": "3f2a9c1e8b7d4e6fa5b4c3d2e1f0a9b8-20261207T010000Z-1",
            "attempt": 1,
            "scheduled_for": "2026-12-07T01:00:00Z",
            "org": "demo",
            "scheduled_for_local": "2026-12-07T09:00:00+08:00",
            "timezone": "Asia/Shanghai",
        },
    },
    "variables": {"date": "2026-12-07", "yesterday": "2026-12-06", "timezone": "Asia/Shanghai"},
    "calendar": {
        "name": "cn-workdays",
        "data_range": [2004, 2026],
        "note": "",
        "decisions": [{"date": "2026-12-05", "workday": False, "reason": "not a workday in cn-workdays: weekend", "missing_data": False}],
    },
}

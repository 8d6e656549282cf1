"""API shape of a run, and the example the schema shows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs.models import RunStatus, ScheduleRun, TriggerType

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

"""Metrics endpoints: the runs summary (`GET /api/v1/metrics/summary/`) and Prometheus'
`/metrics`. Both only read; the numbers come from `runs.metrics`."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config import clock
from config.api.errors import errors
from runs.metrics import prometheus
from runs.metrics.summary import WINDOWS, parse_window, runs_summary, summary_runs_for
from runs.models import RunStatus, TriggerType

SUMMARY_EXAMPLE = {
    "window": "24h",
    "since": "2026-11-29T08:30:00Z",
    "until": "2026-11-30T08:30:00Z",
    "total": 120,
    "triggers": {"scheduled": 110, "manual": 6, "retry": 4, "backfill": 0},
    "statuses": {"queued": 1, "running": 1, "success": 108, "failed": 7, "timeout": 1, "skipped": 2, "canceled": 0},
    "success_rate": 0.9310,
    "failure_rate": 0.0690,
    "duration_p50_seconds": 41.5,
    "duration_p95_seconds": 182.0,
    "hours": [{"start": "2026-11-29T08:00:00Z", "succeeded": 4, "failed": 1, "p95_seconds": 95.2}],
    "failing_schedules": [
        {
            "schedule": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
            "name": "Weekday sales report",
            "failures": 5,
            "last_failed_at": "2026-11-30T07:00:04Z",
        }
    ],
    "usage": {"input_tokens": 1204000, "output_tokens": 301500, "total_tokens": 1505500, "cost_usd": 4.82},
}


class HourSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the UTC hour; the first and last may be partial.")
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed or timed out.")
    p95_seconds = serializers.FloatField(allow_null=True, help_text="p95 duration of the hour's finished runs.")


class FailingScheduleSerializer(serializers.Serializer):
    schedule = serializers.UUIDField(source="schedule_id")
    name = serializers.CharField()
    failures = serializers.IntegerField(help_text="Failed or timed-out runs in the window.")
    last_failed_at = serializers.DateTimeField()


def _counts(choices, help_text):
    return serializers.DictField(
        child=serializers.IntegerField(), help_text=f"{help_text}: {', '.join(choices)} (every key present)."
    )


class UsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class SummarySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS))
    since = serializers.DateTimeField(help_text="Runs created at or after this time...")
    until = serializers.DateTimeField(help_text="...and before this one (now).")
    total = serializers.IntegerField(help_text="Runs created in the window.")
    triggers = _counts(TriggerType.values, "Runs by trigger type")
    statuses = _counts(RunStatus.values, "Runs by status")
    success_rate = serializers.FloatField(
        allow_null=True, help_text="Succeeded / (succeeded + failed + timed out); null when none finished."
    )
    failure_rate = serializers.FloatField(allow_null=True, help_text="(Failed + timed out) / the same.")
    duration_p50_seconds = serializers.FloatField(allow_null=True, help_text="Median of finished - started.")
    duration_p95_seconds = serializers.FloatField(allow_null=True)
    hours = HourSerializer(many=True, help_text="One bucket per UTC hour, oldest first: the chart's data.")
    failing_schedules = FailingScheduleSerializer(many=True, help_text="Up to 5, most failures first.")
    usage = UsageSerializer(help_text="What the window's runs used, as their execution plane reported it.")


class MetricsSummaryView(APIView):
    @extend_schema(
        operation_id="metrics_summary_retrieve",
        summary="Summarise runs over a window",
        description="Needs `schedules:read`. Counts the runs created in the last hour, 24 hours or 7 days, "
        "in every schedule you can read (or one schedule, agent or org): by trigger and status, success and "
        "failure rates, duration p50/p95, hourly buckets and the schedules failing most. "
        "Another org's schedule is a 404.",
        parameters=[
            OpenApiParameter("window", str, enum=list(WINDOWS), description="Default 24h."),
            OpenApiParameter("schedule", OpenApiTypes.UUID, description="Only this schedule's runs."),
            OpenApiParameter("agent", str, description="Agent slug, e.g. 'echo'."),
            OpenApiParameter("org", str, description="Org slug, e.g. 'demo'."),
        ],
        responses={200: SummarySerializer, **errors(400, 404)},
        examples=[OpenApiExample("Summary", value=SUMMARY_EXAMPLE, response_only=True)],
        tags=["metrics"],
    )
    def get(self, request):
        params = request.query_params
        window = parse_window(params.get("window"))
        runs = summary_runs_for(
            request.user, schedule_id=params.get("schedule"), agent=params.get("agent"), org=params.get("org")
        )
        return Response(SummarySerializer(runs_summary(runs=runs, window=window, now=clock.now())).data)


def prometheus_metrics(request):
    """`/metrics` for a Prometheus scrape: `Authorization: Bearer <METRICS_TOKEN>`. Without the
    setting the endpoint does not exist (404), so nothing is exposed by default."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: set METRICS_TOKEN")
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("send Authorization: Bearer <METRICS_TOKEN>\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus.exposition(now=clock.now()), content_type=CONTENT_TYPE_LATEST)

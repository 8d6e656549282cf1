"""`POST /schedules/{id}/backfill/`: run the occurrences of a past range that never got a run.

An input serializer reads the range, `runs.services.backfill` decides and writes, an output
serializer answers; bounds and states are the service's errors, mapped to the one error shape.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from config import clock
from config.api import throttling
from config.api.errors import errors
from config.api.fields import BoundedDateTimeField
from runs.services.backfill import schedule_backfill
from schedules import permissions, timing
from schedules.api.serializers import StrictFieldsMixin
from schedules.permissions import RUN


class ScheduleZoneDateTimeField(BoundedDateTimeField):
    """ISO 8601; a time without an offset is read in the schedule's zone (context `zone`)."""

    def enforce_timezone(self, value):
        if value.tzinfo is None and self.context.get("zone"):
            return timing.wall_to_utc(value, timing.validate_timezone(self.context["zone"]))
        return super().enforce_timezone(value)


_TIME_HELP = "ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+08:00; without one, read in the schedule's zone."


class BackfillInputSerializer(StrictFieldsMixin, serializers.Serializer):
    start = ScheduleZoneDateTimeField(help_text=f"Start of the range, inclusive. {_TIME_HELP}")
    end = ScheduleZoneDateTimeField(help_text=f"End of the range, exclusive; not in the future. {_TIME_HELP}")
    dry_run = serializers.BooleanField(default=False, help_text="List what would run; queue nothing.")

    def get_fields(self):
        # `from` and `to` are Python keywords: declared under other names, exposed as these.
        fields = super().get_fields()
        fields["from"], fields["to"] = fields.pop("start"), fields.pop("end")
        fields["from"].source, fields["to"].source = "start", "end"
        return {"from": fields["from"], "to": fields["to"], "dry_run": fields["dry_run"]}


class BackfillResultSerializer(serializers.Serializer):
    schedule = serializers.UUIDField()
    dry_run = serializers.BooleanField()
    start = serializers.DateTimeField(help_text="The range's start, inclusive (UTC).")
    end = serializers.DateTimeField(help_text="The range's end, exclusive (UTC).")
    expected = serializers.IntegerField(help_text="Occurrences of the schedule in the range.")
    already_run = serializers.IntegerField(help_text="Of those, how many had a run already (never run twice).")
    scheduled_for = serializers.ListField(
        child=serializers.DateTimeField(), help_text="The occurrences queued now (dry run: that would be), oldest first."
    )
    runs = serializers.ListField(child=serializers.UUIDField(), help_text="Ids of the runs queued (empty on a dry run).")
    remaining = serializers.IntegerField(help_text="Missing occurrences beyond this call's cap: call again for them.")

    def get_fields(self):
        fields = super().get_fields()
        fields["start"].source, fields["end"].source = "start", "end"
        return {("from" if k == "start" else "to" if k == "end" else k): v for k, v in fields.items()}


RESULT_EXAMPLE = {
    "schedule": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
    "dry_run": False,
    "from": "2026-11-30T00:00:00Z",
    "to": "2026-11-30T04:00:00Z",
    "expected": 4,
    "already_run": 1,
    "scheduled_for": ["2026-11-30T00:00:00Z", "2026-11-30T01:00:00Z", "2026-11-30T02:00:00Z"],
    "runs": [
        "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
        "8d2e3f4a-5b6c-4d7e-9f0a-1b2c3d4e5f6a",
        "9e3f4a5b-6c7d-4e8f-a0b1-2c3d4e5f6a7b",
    ],
    "remaining": 0,
}


class BackfillView(APIView):
    throttle_classes = [throttling.RunThrottle]

    @extend_schema(
        operation_id="schedules_backfill_create",
        summary="Backfill a schedule's missed occurrences",
        description="Needs `schedules:run`. Queues one run (trigger `backfill`) per occurrence in [`from`, `to`) "
        "that has no run yet, oldest first, at most BACKFILL_MAX_RUNS per call (`remaining` says how many are "
        "left). An occurrence that ran, or was backfilled, is never run again. `to` may not be in the future and "
        "the range may span at most BACKFILL_MAX_DAYS. With `dry_run`, nothing is queued and `scheduled_for` "
        "lists what would run.",
        request=BackfillInputSerializer,
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A UUID string identifying this schedule."
            ),
        ],
        responses={200: BackfillResultSerializer, **errors(400, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Request", value={"from": "2026-11-30T00:00:00Z", "to": "2026-11-30T04:00:00Z"}, request_only=True
            ),
            OpenApiExample("Queued", value=RESULT_EXAMPLE, response_only=True),
        ],
        tags=["schedules"],
    )
    def post(self, request, pk=None):
        schedule = permissions.get_schedule_for(request.user, pk, RUN)
        data = BackfillInputSerializer(data=request.data, context={"zone": schedule.timezone})
        data.is_valid(raise_exception=True)
        result = schedule_backfill(
            schedule=schedule,
            start=data.validated_data["start"],
            end=data.validated_data["end"],
            actor=Actor.from_request(request),
            now=clock.now(),
            dry_run=data.validated_data["dry_run"],
        )
        body = BackfillResultSerializer(
            {**vars(result), "schedule": schedule.pk, "runs": [run.pk for run in result.runs]}
        ).data
        return Response(body)

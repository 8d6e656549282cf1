"""`POST /schedules/{id}/backfill/`: run the occurrences of a past range that never got a run;
`GET /schedules/{id}/occurrences/`: what happened to each occurrence of a range ("Why didn't
it run?", the page's report).

An input serializer reads the range, `runs.services.backfill` (or `runs.why`) decides, an
output serializer answers; bounds and states are the service's errors, mapped to the one
error shape.
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
from config.api.fields import EARLIEST, LATEST, BoundedDateTimeField
from runs.services.backfill import check_range, schedule_backfill
from runs.why import Outcome, schedule_occurrence_report
from schedules import timing
from schedules.api.serializers import StrictFieldsMixin
from schedules.permissions import READ, RUN
from schedules.selectors import get_schedule_for


class ScheduleZoneDateTimeField(BoundedDateTimeField):
    """ISO 8601; a time without an offset is read in the schedule's zone (context `zone`)."""

    def enforce_timezone(self, value):
        if value.tzinfo is None and self.context.get("zone"):
            try:
                return timing.wall_to_utc(value, timing.validate_timezone(self.context["zone"]))
            except OverflowError:
                raise serializers.ValidationError(f"must be between {EARLIEST.year} and {LATEST.year}") from None
        return super().enforce_timezone(value)


class FromToNames:
    """`from` and `to` are Python keywords: fields declared as `start` and `end`, named these."""

    def get_fields(self):
        names = {"start": "from", "end": "to"}
        fields = {}
        for name, field in super().get_fields().items():
            if name in names:
                field.source = name
            fields[names.get(name, name)] = field
        return fields


_TIME_HELP = "ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+08:00; without one, read in the schedule's zone."


class BackfillInputSerializer(StrictFieldsMixin, FromToNames, serializers.Serializer):
    start = ScheduleZoneDateTimeField(help_text=f"Start of the range, inclusive. {_TIME_HELP}")
    end = ScheduleZoneDateTimeField(help_text=f"End of the range, exclusive; not in the future. {_TIME_HELP}")
    dry_run = serializers.BooleanField(default=False, help_text="List what would run; queue nothing.")



class BackfillResultSerializer(FromToNames, serializers.Serializer):
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
        schedule = get_schedule_for(request.user, pk, RUN)
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


class OccurrencesQuerySerializer(StrictFieldsMixin, FromToNames, serializers.Serializer):
    start = ScheduleZoneDateTimeField(help_text=f"Start of the range, inclusive. {_TIME_HELP}")
    end = ScheduleZoneDateTimeField(help_text=f"End of the range, exclusive; later than now reads as now. {_TIME_HELP}")


class OccurrenceSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField(help_text="When the schedule was due (UTC).")
    outcome = serializers.ChoiceField(choices=Outcome.choices, help_text="What the records say happened.")
    outcome_label = serializers.CharField(help_text="The outcome in words.")
    reason = serializers.CharField(
        help_text="For an occurrence a rule left out (skipped_calendar): why, e.g. 'not a workday in cn-workdays: National Day'."
    )
    run = serializers.UUIDField(source="run.pk", allow_null=True, default=None, help_text="The occurrence's latest attempt.")
    run_status = serializers.CharField(source="run.status", allow_null=True, default=None)
    counted_on = serializers.UUIDField(
        source="counted_on.pk", allow_null=True, default=None,
        help_text="For `missed`: the catch-up run whose missed_count covers this occurrence.",
    )
    backfillable = serializers.BooleanField(help_text="It never started: a backfill of the range would run it.")


class OccurrenceReportSerializer(FromToNames, serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="The range's end, exclusive (at most now).")
    occurrences = OccurrenceSerializer(many=True)
    left_out = serializers.IntegerField(help_text="Occurrences after the listed ones (the list is capped): ask for a shorter range.")


OCCURRENCES_EXAMPLE = {
    "from": "2026-11-30T00:00:00Z",
    "to": "2026-11-30T02:00:00Z",
    "occurrences": [
        {
            "scheduled_for": "2026-11-30T00:00:00Z", "outcome": "missed",
            "outcome_label": "Missed while the scheduler was not running (counted on a later run)", "reason": "",
            "run": None, "run_status": None, "counted_on": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "backfillable": True,
        },
        {
            "scheduled_for": "2026-11-30T01:00:00Z", "outcome": "ran", "outcome_label": "Ran", "reason": "",
            "run": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "run_status": "success", "counted_on": None,
            "backfillable": False,
        },
    ],
    "left_out": 0,
}


class OccurrencesView(APIView):
    @extend_schema(
        operation_id="schedules_occurrences_list",
        summary="What happened to each occurrence of a range",
        description="Needs `schedules:read`. Every time the schedule was due in [`from`, `to`) (at most "
        "BACKFILL_MAX_DAYS, up to now), beside what the records say happened: a run and its status, skipped "
        "(overlap, agent disabled, older than the catch-up window), canceled (schedule disabled), missed while "
        "the scheduler was down (counted on a later run), disabled at the time (audit trail), no scheduler "
        "running (heartbeats), or no record. `backfillable` ones are what POST .../backfill/ would run.",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A UUID string identifying this schedule."
            ),
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description=f"Inclusive. {_TIME_HELP}"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True, description=f"Exclusive. {_TIME_HELP}"),
        ],
        responses={200: OccurrenceReportSerializer, **errors(400, 404)},
        examples=[OpenApiExample("Report", value=OCCURRENCES_EXAMPLE, response_only=True)],
        tags=["schedules"],
    )
    def get(self, request, pk=None):
        schedule = get_schedule_for(request.user, pk, READ)
        query = OccurrencesQuerySerializer(data=request.query_params.dict(), context={"zone": schedule.timezone})
        query.is_valid(raise_exception=True)
        now = clock.now()
        start, end = query.validated_data["start"], query.validated_data["end"]
        check_range(start=start, end=end)
        report = schedule_occurrence_report(schedule=schedule, start=start, end=end, now=now)
        return Response(OccurrenceReportSerializer(report).data)

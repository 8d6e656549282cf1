"""Run endpoints: run a schedule now, a schedule's runs, one run, and a manual retry.

A run is visible exactly when its schedule is (`runs.selectors`, `schedules.permissions`);
the execution plane's callback is in `runs/callback.py` (it authenticates by signature, not
by user).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from config import clock
from config.api import throttling
from config.api.errors import errors
from config.api.fields import UUID_RE
from config.api.pagination import KeysetPagination
from runs.services import dry_run, manual
from runs.api.filters import RunFilter
from runs.api.serializers import DRY_RUN_EXAMPLE, RUN_EXAMPLE, DryRunSerializer, RunSerializer
from runs.models import ScheduleRun
from runs.selectors import get_run_for, runs_for_schedule
from schedules.permissions import READ, RUN
from schedules.selectors import get_schedule_for

IDEMPOTENCY_KEY_MAX = 128

_RUN_EXAMPLE = [OpenApiExample("Run", value=RUN_EXAMPLE, response_only=True)]


class RunNowView(APIView):
    """`POST /schedules/{id}/run-now/`: routed here, beside the other run endpoints, since it
    creates a run (runs may import schedules, not the other way round)."""

    throttle_classes = [throttling.RunThrottle]

    @extend_schema(
        operation_id="schedules_run_now_create",
        summary="Run a schedule now",
        description="Needs `schedules:run`. Queues a manual run and answers 202 with it. With an "
        "`Idempotency-Key` header, repeating the request returns the same run instead of starting another.",
        request=None,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description=f"Any string of up to {IDEMPOTENCY_KEY_MAX} printable characters, e.g. a UUID.",
            ),
            OpenApiParameter(
                "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A UUID string identifying this schedule."
            ),
        ],
        responses={202: RunSerializer, **errors(400, 403, 404, 409)},
        examples=[OpenApiExample("Example response", value=RUN_EXAMPLE, response_only=True, status_codes=["202"])],
        tags=["schedules"],
    )
    def post(self, request, pk=None):
        schedule = get_schedule_for(request.user, pk, RUN)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isprintable()):
            raise serializers.ValidationError(
                {"Idempotency-Key": [f"must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters"]}
            )
        run, created = manual.run_now(
            actor=Actor.from_request(request), schedule=schedule, now=clock.now(), idempotency_key=key or None
        )
        response = Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class DryRunView(APIView):
    """`POST /schedules/{id}/dry-run/`: what the plane would receive for the next occurrence."""

    @extend_schema(
        operation_id="schedules_dry_run_create",
        summary="Dry run: preview the next run",
        description="Needs `schedules:read`. Answers exactly what the execution plane would receive for the "
        "schedule's next occurrence (the resolved prompt, the metadata), the run variables, and with a workday "
        "calendar its decision for the next 10 dates, with reasons. Creates nothing.",
        request=None,
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A UUID string identifying this schedule."
            ),
        ],
        responses={200: DryRunSerializer, **errors(403, 404, 409)},
        examples=[OpenApiExample("Example response", value=DRY_RUN_EXAMPLE, response_only=True)],
        tags=["schedules"],
    )
    def post(self, request, pk=None):
        schedule = get_schedule_for(request.user, pk, READ)
        return Response(dry_run.schedule_dry_run(schedule=schedule, now=clock.now()))


class ScheduleRunsView(generics.ListAPIView):
    serializer_class = RunSerializer
    pagination_class = KeysetPagination
    filterset_class = RunFilter
    queryset = ScheduleRun.objects.none()  # for the schema

    def get_queryset(self):
        schedule = get_schedule_for(self.request.user, self.kwargs["pk"], READ)
        return runs_for_schedule(schedule).select_related("org", "triggered_by")

    @extend_schema(
        summary="List a schedule's runs",
        description="One row per attempt, newest first.",
        responses={200: RunSerializer(many=True), **errors(400, 404)},
        examples=[OpenApiExample("Runs", value=RUN_EXAMPLE, response_only=True)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RunViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RunSerializer
    lookup_value_regex = UUID_RE
    queryset = ScheduleRun.objects.none()  # for the schema

    @extend_schema(summary="Get a run", responses={200: RunSerializer, **errors(404)}, examples=_RUN_EXAMPLE)
    def retrieve(self, request, *args, **kwargs):
        return Response(RunSerializer(get_run_for(request.user, kwargs["pk"], READ)).data)

    @extend_schema(
        summary="Retry a run",
        description="Needs `schedules:run`. Creates the next attempt of a failed, timed-out or canceled run "
        "(queued now) and answers 202 with it; any other state is a 409.",
        request=None,
        responses={202: RunSerializer, **errors(403, 404, 409)},
        examples=[
            OpenApiExample(
                "New attempt",
                value={**RUN_EXAMPLE, "trigger_type": "retry", "attempt": 2, "retry_of": RUN_EXAMPLE["id"]},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    @action(detail=True, methods=["post"], throttle_classes=[throttling.RunThrottle])
    def retry(self, request, pk=None):
        run = get_run_for(request.user, pk, RUN)
        attempt = manual.run_retry(actor=Actor.from_request(request), run=run, now=clock.now())
        return Response(RunSerializer(attempt).data, status=status.HTTP_202_ACCEPTED)

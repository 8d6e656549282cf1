"""Run endpoints: a schedule's runs, one run, and a manual retry.

A run is visible exactly when its schedule is (`schedules.permissions`); the execution
plane's callback is not here (it authenticates by signature, not by user).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.services import Actor
from config import clock, throttling
from config.api_errors import errors
from config.errors import NotVisible
from runs.services import manual, queries
from runs.models import ScheduleRun
from schedules import permissions
from schedules.api.filters import RunFilter
from schedules.api.pagination import KeysetPagination
from schedules.api.serializers import RunSerializer
from schedules.api.views import RUN_EXAMPLE, UUID_RE
from schedules.permissions import READ, RUN

_RUN_EXAMPLE = [OpenApiExample("Run", value=RUN_EXAMPLE, response_only=True)]


def get_run_for(user, run_id, perm: str = READ) -> ScheduleRun:
    """The run, when the user may `perm` its schedule (404 hides other orgs', 403 names `perm`)."""
    pk = permissions.parse_uuid(run_id)
    run = (
        ScheduleRun.objects.select_related("schedule", "org", "triggered_by").filter(pk=pk).first() if pk else None
    )
    if run is None:
        raise NotVisible("run not found")
    try:
        permissions.check_schedule_perm(user, run.schedule, perm)
    except NotVisible:
        raise NotVisible("run not found") from None
    return run


class ScheduleRunsView(generics.ListAPIView):
    serializer_class = RunSerializer
    pagination_class = KeysetPagination
    filterset_class = RunFilter
    queryset = ScheduleRun.objects.none()  # for the schema

    def get_queryset(self):
        schedule = permissions.get_schedule_for(self.request.user, self.kwargs["pk"], READ)
        return queries.runs_for_schedule(schedule).select_related("org", "triggered_by")

    @extend_schema(
        summary="List a schedule's runs",
        description="One row per attempt, newest first.",
        responses={200: RunSerializer(many=True), **errors(400, 404)},
        examples=[
            OpenApiExample("Runs", value=RUN_EXAMPLE, response_only=True)
        ],
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

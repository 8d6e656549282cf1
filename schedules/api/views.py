"""Schedule endpoints. Thin: an input serializer validates, a service writes, an output
serializer answers; every lookup goes through `schedules.permissions`."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.services import Actor
from config import clock
from config.api.errors import errors
from schedules import permissions, services, timing
from schedules.api.filters import ScheduleFilter
from config.api.pagination import KeysetPagination
from schedules.previews import timing_preview
from schedules.api.serializers import (
    PreviewInputSerializer,
    PreviewSerializer,
    ScheduleInputSerializer,
    ScheduleSerializer,
    for_list,
)
from schedules.models import Membership, Organization, Schedule
from schedules.permissions import DELETE, READ, WRITE
from schedules.selectors import get_schedule_for, schedules_visible_to

EXAMPLE_ID = "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8"
SCHEDULE_EXAMPLE = {
    "id": EXAMPLE_ID,
    "org": "demo",
    "agent": "sales-analyst",
    "name": "Weekday sales report",
    "description": "",
    "prompt": "Summarise yesterday's sales as a PDF.",
    "output_type": "pdf",
    "params": {"region": "APAC"},
    "schedule_type": "cron",
    "cron_expression": "0 9 * * 1-5",
    "interval_seconds": None,
    "run_at": None,
    "timezone": "Asia/Shanghai",
    "start_at": None,
    "end_at": None,
    "timing_description": "At 09:00, Monday through Friday (Asia/Shanghai)",
    "enabled": True,
    "status": "ok",
    "next_run_at": "2026-12-01T01:00:00Z",
    "last_run_at": None,
    "max_concurrency": 1,
    "overlap_policy": "skip",
    "max_retries": 3,
    "retry_backoff_seconds": [30, 60, 300, 900, 3600],
    "timeout_seconds": 1800,
    "catchup_window_seconds": 3600,
    "alert_after_failures": 3,
    "pause_after_failures": None,
    "paused_reason": "",
    "consecutive_failures": 0,
    "timing_error": "",
    "source_session_id": "",
    "source_message_id": "",
    "created_by": "alice",
    "updated_by": "alice",
    "created_at": "2026-11-30T08:00:00Z",
    "updated_at": "2026-11-30T08:00:00Z",
}
CREATE_EXAMPLE = {
    "org": "demo",
    "agent": "sales-analyst",
    "name": "Weekday sales report",
    "prompt": "Summarise yesterday's sales as a PDF.",
    "output_type": "pdf",
    "schedule_type": "cron",
    "cron_expression": "0 9 * * 1-5",
    "timezone": "Asia/Shanghai",
}


def _examples(request=None, response=None, status_code="200", name="Example"):
    out = []
    if request is not None:
        out.append(OpenApiExample(f"{name} request", value=request, request_only=True))
    if response is not None:
        out.append(OpenApiExample(f"{name} response", value=response, response_only=True, status_codes=[status_code]))
    return out


def resolve_org(user, slug: str | None) -> Organization:
    """The org a new schedule goes to; an org the user cannot read is 'unknown' (not revealed)."""
    if not slug:
        org_ids = list(Membership.objects.filter(user=user).values_list("org_id", flat=True)[:2])
        if len(org_ids) != 1:
            raise serializers.ValidationError(
                {"org": ["org is required: give the org's slug, e.g. \"org\": \"demo\""]}
            )
        return Organization.objects.get(pk=org_ids[0])
    org = Organization.objects.filter(slug=slug).first()
    if org is None or READ not in permissions.grants_for(user).for_org(org.pk):
        raise serializers.ValidationError({"org": [f"unknown org '{slug}'"]})
    return org


def _schedule_response(schedule: Schedule, status_code=status.HTTP_200_OK) -> Response:
    return Response(ScheduleSerializer(schedule).data, status=status_code)


@extend_schema_view(
    list=extend_schema(
        summary="List schedules",
        description="Schedules in orgs you can read (or that are shared with you), newest first.",
        responses={200: ScheduleSerializer(many=True), **errors(400)},
        examples=_examples(response=SCHEDULE_EXAMPLE),
    ),
    retrieve=extend_schema(
        summary="Get a schedule",
        responses={200: ScheduleSerializer, **errors(404)},
        examples=_examples(response=SCHEDULE_EXAMPLE),
    ),
)
class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ScheduleSerializer
    pagination_class = KeysetPagination
    filterset_class = ScheduleFilter
    queryset = Schedule.objects.none()  # for the schema; get_queryset is the real one

    def get_queryset(self):
        return for_list(schedules_visible_to(self.request.user))

    def get_object(self, perm: str = READ) -> Schedule:
        queryset = Schedule.objects.select_related("org", "agent", "created_by", "updated_by")
        return get_schedule_for(self.request.user, self.kwargs["pk"], perm, queryset=queryset)

    def retrieve(self, request, *args, **kwargs):
        return _schedule_response(self.get_object(READ))

    @extend_schema(
        summary="Create a schedule",
        description="Needs `schedules:write` in the org.",
        request=ScheduleInputSerializer,
        responses={201: ScheduleSerializer, **errors(400, 403)},
        examples=_examples(CREATE_EXAMPLE, SCHEDULE_EXAMPLE, "201"),
    )
    def create(self, request, *args, **kwargs):
        given = ScheduleInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        org = resolve_org(request.user, data.pop("org", None))
        permissions.check_org_perm(request.user, org, WRITE)
        data["agent"] = services.agent_for_org(org, data["agent"])
        schedule = services.schedule_create(actor=Actor.from_request(request), org=org, data=data, now=clock.now())
        return _schedule_response(schedule, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace a schedule",
        description="Needs `schedules:write`. The fields a create requires must be given; others left out keep "
        "their values. `org` cannot change.",
        request=ScheduleInputSerializer,
        responses={200: ScheduleSerializer, **errors(400, 403, 404)},
        examples=_examples(CREATE_EXAMPLE, SCHEDULE_EXAMPLE),
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some fields of a schedule",
        description="Needs `schedules:write`. Changing timing fields recomputes `next_run_at`; changing "
        "`enabled` does what enable/disable do (and is audited as such).",
        request=ScheduleInputSerializer(partial=True),
        responses={200: ScheduleSerializer, **errors(400, 403, 404)},
        examples=_examples({"cron_expression": "30 8 * * 1-5"}, SCHEDULE_EXAMPLE),
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        schedule = self.get_object(WRITE)
        given = ScheduleInputSerializer(data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        org_slug = data.pop("org", None)
        if org_slug is not None and org_slug != schedule.org.slug:
            raise serializers.ValidationError({"org": ["a schedule cannot move to another org"]})
        if "agent" in data:
            data["agent"] = services.agent_for_org(schedule.org, data["agent"])
        schedule = services.schedule_update(
            actor=Actor.from_request(request), schedule=schedule, data=data, now=clock.now()
        )
        return _schedule_response(schedule)

    @extend_schema(summary="Delete a schedule", description="Needs `schedules:delete`. Its runs go with it; "
                   "the audit trail stays.", responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        schedule = self.get_object(DELETE)
        services.schedule_delete(actor=Actor.from_request(request), schedule=schedule, now=clock.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Enable a schedule",
        description="Needs `schedules:write`. The next run is computed from now (the disabled period is not "
        "caught up). Enabling an enabled schedule changes nothing.",
        request=None,
        responses={200: ScheduleSerializer, **errors(400, 403, 404)},
        examples=_examples(response=SCHEDULE_EXAMPLE),
    )
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        schedule = services.schedule_enable(
            actor=Actor.from_request(request), schedule=self.get_object(WRITE), now=clock.now()
        )
        return _schedule_response(schedule)

    @extend_schema(
        summary="Disable a schedule",
        description="Needs `schedules:write`. Waiting runs (queued retries, a queued overlap) are canceled with "
        "error `schedule_disabled` by the scheduler's next pass; runs already handed to the execution plane "
        "finish or time out as usual.",
        request=None,
        responses={200: ScheduleSerializer, **errors(403, 404)},
        examples=_examples(response={**SCHEDULE_EXAMPLE, "enabled": False, "status": "disabled", "next_run_at": None}),
    )
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        schedule = services.schedule_disable(
            actor=Actor.from_request(request), schedule=self.get_object(WRITE), now=clock.now()
        )
        return _schedule_response(schedule)

    @extend_schema(
        summary="Preview timing",
        description="Validates a timing (as a create would) and answers its description and next fire times. "
        "Stores nothing; needs no permission.",
        request=PreviewInputSerializer,
        responses={200: PreviewSerializer, **errors(400)},
        examples=_examples(
            {"schedule_type": "cron", "cron_expression": "0 9 * * 1-5", "timezone": "Asia/Shanghai", "count": 2},
            {
                "description": "At 09:00, Monday through Friday",
                "timezone": "Asia/Shanghai",
                "next_runs": ["2026-12-01T01:00:00Z", "2026-12-02T01:00:00Z"],
                "next_runs_local": ["2026-12-01T09:00:00+08:00", "2026-12-02T09:00:00+08:00"],
                "calendar": None,
            },
        ),
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        given = PreviewInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        now = clock.now()
        after = data.pop("after", None) or now
        count = data.pop("count")
        spec = timing.Spec(
            schedule_type=data["schedule_type"],
            timezone=data.get("timezone") or "UTC",
            cron_expression=data.get("cron_expression") or "",
            interval_seconds=data.get("interval_seconds"),
            run_at=data.get("run_at"),
            start_at=data.get("start_at"),
            end_at=data.get("end_at"),
            anchor=None,  # unsaved: timing.preview anchors an interval at `after`
            calendar=data.get("calendar") or "",
        )
        spec = timing.read_local_times(spec)
        # A timing the service would refuse raises timing.ScheduleError: the exception
        # handler answers it as this field's 400.
        result = timing_preview(spec, now=now, after=after, count=count, language=translation.get_language() or "en")
        runs = result["next_runs"]
        return Response(
            {
                "description": result["description"],
                "timezone": result["timezone"],
                "next_runs": [item["utc"] for item in runs],
                "next_runs_local": [item["local"] for item in runs],
                "calendar": result["calendar"],
            }
        )

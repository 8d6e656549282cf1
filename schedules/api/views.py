"""Schedule endpoints. Thin: an input serializer validates, a service writes, an output
serializer answers; every lookup goes through `schedules.permissions`."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.services import Actor
from config import clock, throttling
from config.api_errors import errors
from runs.services import manual as run_services
from schedules import permissions, services, timing
from schedules.api.filters import ScheduleFilter
from schedules.api.pagination import KeysetPagination
from schedules.previews import timing_preview
from schedules.api.serializers import (
    PreviewInputSerializer,
    PreviewSerializer,
    RunSerializer,
    ScheduleInputSerializer,
    ScheduleSerializer,
    for_list,
)
from schedules.models import Membership, Organization, Schedule
from schedules.permissions import DELETE, READ, RUN, WRITE

UUID_RE = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
IDEMPOTENCY_KEY_MAX = 128

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
    "consecutive_failures": 0,
    "timing_error": "",
    "source_session_id": "",
    "source_message_id": "",
    "created_by": "alice",
    "updated_by": "alice",
    "created_at": "2026-11-30T08:00:00Z",
    "updated_at": "2026-11-30T08:00:00Z",
}
RUN_EXAMPLE = {
    "id": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "job_run_id": "3f2a9c1e8b7d4e6fa5b4c3d2e1f0a9b8-manual-5d41402abc4b2a76b9719d91",
    "schedule": EXAMPLE_ID,
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
        return for_list(permissions.schedules_visible_to(self.request.user))

    def get_object(self, perm: str = READ) -> Schedule:
        queryset = Schedule.objects.select_related("org", "agent", "created_by", "updated_by")
        return permissions.get_schedule_for(self.request.user, self.kwargs["pk"], perm, queryset=queryset)

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
        "error `schedule_disabled`; runs already handed to the execution plane finish or time out as usual.",
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
            )
        ],
        responses={202: RunSerializer, **errors(400, 403, 404, 409)},
        examples=_examples(response=RUN_EXAMPLE, status_code="202"),
    )
    @action(detail=True, methods=["post"], url_path="run-now", throttle_classes=[throttling.RunThrottle])
    def run_now(self, request, pk=None):
        schedule = self.get_object(RUN)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isprintable()):
            raise serializers.ValidationError(
                {"Idempotency-Key": [f"must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters"]}
            )
        run, created = run_services.run_now(
            actor=Actor.from_request(request), schedule=schedule, now=clock.now(), idempotency_key=key or None
        )
        response = Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response

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
        )
        spec = timing.read_local_times(spec)
        try:
            result = timing_preview(
                spec, now=now, after=after, count=count, language=translation.get_language() or "en"
            )
        except timing.ScheduleError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        runs = result["next_runs"]
        return Response(
            {
                "description": result["description"],
                "timezone": result.get("timezone", spec.timezone),
                "next_runs": [_utc_iso(item["utc"]) for item in runs],
                "next_runs_local": [_iso(item["local"]) for item in runs],
            }
        )


def _iso(value) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _utc_iso(value) -> str:
    text = _iso(value)
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text

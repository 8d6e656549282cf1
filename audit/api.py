"""The audit trail, read-only: events of orgs (or shared schedules) the user can read."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound

from audit import selectors
from schedules import permissions
from audit.models import AuditAction, AuditEvent
from config.api.errors import errors
from config.api.fields import EARLIEST, LATEST
from config.api.pagination import NewestFirstPagination

EVENT_EXAMPLE = {
    "id": 812,
    "org": "demo",
    "actor": "alice",
    "action": "update",
    "target_type": "schedule",
    "target_id": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
    "schedule": "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
    "before": {"cron_expression": "0 9 * * 1-5"},
    "after": {"cron_expression": "30 8 * * 1-5"},
    "request_id": "5d41402abc4b2a76b9719d911017c592",
    "client_ip": "203.0.113.7",
    "created_at": "2026-11-30T08:00:00Z",
}


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    org = serializers.SerializerMethodField()
    actor = serializers.CharField(source="actor_label", help_text="Username at the time, or 'system'.")
    action = serializers.ChoiceField(choices=AuditAction.choices)
    target_type = serializers.CharField(help_text="'schedule', 'run', 'organization', 'membership' or 'agent'.")
    target_id = serializers.CharField()
    schedule = serializers.UUIDField(source="schedule_id", allow_null=True)
    before = serializers.JSONField(allow_null=True, help_text="Changed fields before the action.")
    after = serializers.JSONField(allow_null=True, help_text="Changed fields after the action.")
    request_id = serializers.CharField()
    client_ip = serializers.SerializerMethodField(
        help_text="The address the change came from: shown to admins of the org only, null for everyone else."
    )
    created_at = serializers.DateTimeField()

    def get_org(self, event) -> str | None:
        return event.org.slug if event.org_id else None

    def get_client_ip(self, event) -> str | None:
        # Where each member works from is personal data: for the org's admins, not its viewers.
        grants = self.context.get("grants")
        return event.client_ip if grants is not None and grants.is_admin(event.org_id) else None

    def to_representation(self, event):
        data = super().to_representation(event)
        data["before"], data["after"] = selectors.shown_changes(event)
        return data


class BoundedIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, within the years every calendar computation handles (no overflow into a 500)."""

    def to_python(self, value):
        try:
            parsed = super().to_python(value)
        except OverflowError:
            parsed = EARLIEST.replace(year=1)
        if parsed is not None and not EARLIEST <= parsed <= LATEST:
            raise ValidationError(f"must be an ISO 8601 time between {EARLIEST.year} and {LATEST.year}")
        return parsed


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class AuditEventFilter(filters.FilterSet):
    schedule = filters.UUIDFilter(field_name="schedule_id", help_text="Schedule id.")
    actor = filters.CharFilter(field_name="actor_label", max_length=150, help_text="Username, or 'system'.")
    action = filters.ChoiceFilter(choices=AuditAction.choices)
    since = DateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="ISO 8601, inclusive.")
    until = DateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="ISO 8601, exclusive.")

    class Meta:
        model = AuditEvent
        fields = ["schedule", "actor", "action", "since", "until"]

    def filter_queryset(self, queryset):
        # The filters validate and document the query; the selector the page uses applies it.
        values = {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}
        return selectors.audit_events_filter(queryset, **values)


@extend_schema_view(
    list=extend_schema(
        summary="List audit events",
        description="Every create, update, enable, disable, delete, run-now and retry of schedules and runs, "
        "and every change to an organization, membership or agent, newest first.",
        responses={200: AuditEventSerializer(many=True), **errors(400)},
        examples=[
            OpenApiExample("Events", value=EVENT_EXAMPLE, response_only=True)
        ],
    ),
    retrieve=extend_schema(
        summary="Get an audit event",
        responses={200: AuditEventSerializer, **errors(404)},
        examples=[OpenApiExample("Event", value=EVENT_EXAMPLE, response_only=True)],
    ),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AuditEventSerializer
    pagination_class = NewestFirstPagination
    filterset_class = AuditEventFilter
    lookup_value_regex = "[0-9]{1,18}"
    queryset = AuditEvent.objects.none()  # for the schema

    def get_queryset(self):
        return selectors.audit_events_visible_to(self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "grants": permissions.grants_for(self.request.user)}

    def get_object(self):
        event = self.get_queryset().filter(pk=int(self.kwargs["pk"])).first()
        if event is None:
            raise NotFound("audit event not found")
        return event

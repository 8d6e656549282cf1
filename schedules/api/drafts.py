"""POST /api/v1/schedule-drafts/ (from chat) and GET /api/v1/schedule-drafts/{id}/.

The chat app posts what produced a good answer; the answer's `url` opens the editor
pre-filled. Rules live in `schedules.drafts`."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from config import clock
from config.api.errors import errors
from config.errors import NotVisible
from schedules import drafts, permissions
from schedules.api.serializers import ParamsSchemaField, StrictFieldsMixin
from schedules.api.views import resolve_org
from schedules.models import Organization, OutputType, ScheduleDraft
from schedules.permissions import READ

EXAMPLE_REQUEST = {
    "org": "demo",
    "agent": "sales-analyst",
    "prompt": "Summarise yesterday's sales as a PDF.",
    "output_type": "pdf",
    "session_id": "sess-42",
    "message_id": "msg-7",
}
EXAMPLE_RESPONSE = {
    "id": "9d7c4b1a-2e3f-4a5b-8c6d-7e8f9a0b1c2d",
    "url": "/automation/schedules/new/?draft=9d7c4b1a-2e3f-4a5b-8c6d-7e8f9a0b1c2d",
    "expires_at": "2026-12-01T08:00:00Z",
    "org": "demo",
    "agent": "sales-analyst",
    "name": "Summarise yesterday's sales as a PDF",
    "prompt": "Summarise yesterday's sales as a PDF.",
    "output_type": "pdf",
    "params": {},
    "session_id": "sess-42",
    "message_id": "msg-7",
    "schedule": None,
}


class DraftInputSerializer(StrictFieldsMixin, serializers.Serializer):
    org = serializers.SlugField(
        max_length=64, required=False, help_text="Org slug, e.g. 'demo'; may be left out by a member of one org."
    )
    agent = serializers.SlugField(max_length=64, help_text="The agent that answered in chat, e.g. 'sales-analyst'.")
    prompt = serializers.CharField(
        max_length=settings.SCHEDULE_PROMPT_MAX_LENGTH,
        trim_whitespace=False,
        help_text=f"What was asked in chat; at most {settings.SCHEDULE_PROMPT_MAX_LENGTH} characters.",
    )
    output_type = serializers.ChoiceField(choices=OutputType.choices, required=False, default=OutputType.MARKDOWN)
    session_id = serializers.CharField(max_length=128, help_text="The chat session of the answer, e.g. 'sess-42'.")
    message_id = serializers.CharField(
        max_length=128, required=False, allow_blank=True, default="", help_text="The answer's message, e.g. 'msg-7'."
    )
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Left out: the prompt's first sentence, cut at a word with an ellipsis past 60 characters."
    )
    params = ParamsSchemaField(required=False, help_text="Passed to the execution plane as is.")


class DraftSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Open it to pick when the schedule runs and save it.")
    org = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    schedule = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The schedule saved from this draft, once it is saved."
    )

    class Meta:
        model = ScheduleDraft
        fields = ["id", "url", "expires_at", "org", "agent", "name", "prompt", "output_type", "params",
                  "session_id", "message_id", "schedule"]
        read_only_fields = fields

    def get_url(self, draft) -> str:
        return f"{reverse('automation:schedule-new')}?draft={draft.pk}"


def _draft_org(user, slug: str | None) -> Organization:
    """As for schedules, except that an org the user cannot read is not found (404)."""
    if slug:
        org = Organization.objects.filter(slug=slug).first()
        if org is None or READ not in permissions.grants_for(user).for_org(org.pk):
            raise NotVisible(_("org '%(org)s' not found") % {"org": slug})
        return org
    return resolve_org(user, None)


@extend_schema_view(
    retrieve=extend_schema(
        summary="Get one of your schedule drafts",
        description="Only its creator sees a draft; anyone else, and everyone after it expires, gets 404.",
        responses={200: DraftSerializer, **errors(404)},
        examples=[OpenApiExample("Draft", value=EXAMPLE_RESPONSE, response_only=True)],
    ),
)
class ScheduleDraftViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DraftSerializer
    queryset = ScheduleDraft.objects.none()  # for the schema; draft_get is the real lookup

    def get_object(self):
        return drafts.draft_get(user=self.request.user, draft_id=self.kwargs["pk"], now=clock.now())

    @extend_schema(
        summary="Make a schedule draft from a chat result",
        description="Needs `schedules:write` in the org. Answers the draft with `url`: open it (in the same "
        "browser session) to pick when it runs and save. Drafts expire after `SCHEDULE_DRAFT_TTL` (24 h).",
        request=DraftInputSerializer,
        responses={201: DraftSerializer, **errors(400, 403, 404)},
        examples=[
            OpenApiExample("Draft request", value=EXAMPLE_REQUEST, request_only=True),
            OpenApiExample("Draft response", value=EXAMPLE_RESPONSE, response_only=True, status_codes=["201"]),
        ],
    )
    def create(self, request, *args, **kwargs):
        given = DraftInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        org = _draft_org(request.user, data.pop("org", None))
        draft = drafts.draft_create(user=request.user, org=org, data=data, now=clock.now())
        return Response(DraftSerializer(draft).data, status=status.HTTP_201_CREATED)

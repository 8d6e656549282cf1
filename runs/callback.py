"""`POST /api/v1/runs/callback/`: the execution plane reports a session's outcome.

Authenticated by an HMAC, not by a user: `X-Signature: sha256=<hex HMAC-SHA256 of the raw
body, keyed with EXECUTION_PLANE_SECRET>`. A missing or wrong signature gets 401 and changes
nothing. A signed callback for an unknown run, or for a run that is already final, is
answered 200 "ignored" (the plane must not retry it forever) and changes nothing either:
terminal states never change, so a late success after a timeout stays a timeout.
Replaying a signed body is harmless for the same reason.

Errors are raised, and answered in the API's one error shape by its exception handler
(config/api/errors.py). The body is read like every API body (`config.api.parsers`): over the size limit is a 413,
nested too deeply a 400. NUL characters are removed from every string of a signed body
before it is used: PostgreSQL's text and jsonb cannot store them, and a 500 here would make
the plane retry the same report forever.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config import clock
from config.api.errors import error_response
from config.api.parsers import JSONInputError, parse_json, read_bounded
from config.signing import signature_matches
from runs.services import ambiguity, lifecycle
from runs.models import RunStatus, ScheduleRun
from runs.plane import PlaneError, PlaneResult, PlaneStatus
from runs.plane.base import result_from_body

log = structlog.get_logger("runs.callback")


class Outcome:
    APPLIED = "applied"
    IGNORED = "ignored"


def signature_ok(body: bytes, given: str) -> bool:
    # Without a secret nothing can be verified, so nothing is accepted.
    return signature_matches(settings.EXECUTION_PLANE_SECRET, body, given)


def without_nul(value):
    """`value` with NUL removed from every string, keys included (depth is bounded by the parser)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def apply_callback(*, job_run_id: str, result: PlaneResult, now) -> dict:
    """Apply a verified report to the run; returns the answer body (`applied` or `ignored`)."""
    run = ScheduleRun.objects.filter(job_run_id=job_run_id).only("id", "status", "session_id", "schedule_id", "output_type").first()
    if run is None:
        return {"status": Outcome.IGNORED, "reason": "unknown run"}
    if run.is_terminal:
        if run.status == RunStatus.TIMEOUT and not run.session_id and result.session_id and not result.terminal:
            # Timed out before any answer named its session, which still runs: owe it a cancel.
            ambiguity.run_owe_cancel(run_id=run.pk, session_id=result.session_id, now=now)
        return {"status": Outcome.IGNORED, "reason": "already finished"}
    if run.session_id and result.session_id and result.session_id != run.session_id:
        # Not the session this run is bound to (the plane should never do this): keep ours.
        return {"status": Outcome.IGNORED, "reason": "session mismatch"}
    if not result.terminal:
        # The plane started it before we heard the create answer: record that it runs.
        if run.status == RunStatus.QUEUED and result.status == PlaneStatus.RUNNING and result.session_id:
            if lifecycle.run_mark_running(run_id=run.pk, session_id=result.session_id, message_id=result.message_id, now=now):
                return {"status": Outcome.APPLIED}
        if run.status == RunStatus.RUNNING and not run.session_id and result.session_id:
            # An attempt whose create answer we never got: this names its session.
            if ambiguity.run_bind_session(run_id=run.pk, session_id=result.session_id, message_id=result.message_id, now=now):
                return {"status": Outcome.APPLIED}
        return {"status": Outcome.IGNORED, "reason": "not final"}
    _, moved = lifecycle.run_apply_plane_result(run, result, now=now)
    if not moved:
        return {"status": Outcome.IGNORED, "reason": "already finished"}
    return {"status": Outcome.APPLIED}


class BadSignature(APIException):
    """401 in the API's one error shape. Not DRF's AuthenticationFailed: with no authenticator
    to name in WWW-Authenticate, DRF would turn that into a 403."""

    status_code = 401
    default_code = "invalid_signature"
    default_detail = "missing or wrong X-Signature"


# What applying a plane's report answers (`apply_callback`): the signed callback and the
# LangGraph webhook alike.
APPLY_ANSWER = inline_serializer(
    "CallbackAnswer",
    {
        "status": serializers.ChoiceField(choices=[Outcome.APPLIED, Outcome.IGNORED]),
        "reason": serializers.CharField(required=False, help_text="Why nothing changed, e.g. 'already finished'."),
    },
)
_BODY = inline_serializer(
    "CallbackBody",
    {
        "job_run_id": serializers.CharField(),
        "session_id": serializers.CharField(),
        "message_id": serializers.CharField(required=False),
        "status": serializers.ChoiceField(choices=PlaneStatus.CONTRACT),
        "outputs": inline_serializer(
            "CallbackOutput",
            {
                "type": serializers.CharField(),
                "name": serializers.CharField(),
                "url": serializers.CharField(),
                "size_bytes": serializers.IntegerField(required=False, min_value=0, help_text="The output's size, for size checks."),
                "content_type": serializers.CharField(required=False, help_text="e.g. 'application/pdf'."),
            },
            many=True,
            required=False,
        ),
        "text": serializers.CharField(required=False, help_text="The agent's answer as text (kept up to 64 KiB)."),
        "usage": inline_serializer(
            "CallbackUsage",
            {
                "input_tokens": serializers.IntegerField(required=False, min_value=0),
                "output_tokens": serializers.IntegerField(required=False, min_value=0),
                "total_tokens": serializers.IntegerField(required=False, min_value=0, help_text="input + output when left out."),
                "cost_usd": serializers.DecimalField(required=False, max_digits=14, decimal_places=6, min_value=0, coerce_to_string=False),
            },
            required=False,
            help_text="What the session used; summed per month against the schedule's and the org's budgets.",
        ),
        "error": inline_serializer(
            "CallbackErrorDetail", {"code": serializers.CharField(), "message": serializers.CharField()}, required=False
        ),
    },
)


class PlaneEndpoint(APIView):
    """An endpoint the execution plane calls (this callback, the LangGraph webhook).

    Its own proof (an HMAC) is the authentication: no session (and so no CSRF) and no user.
    The plane reports every session here; one busy plane must not be throttled as one user.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]


class RunCallbackView(PlaneEndpoint):

    @extend_schema(
        operation_id="runs_callback",
        summary="Execution plane reports a session's outcome",
        description=(
            "Called by the execution plane, not by people. The raw body must be signed: "
            "`X-Signature: sha256=<hex HMAC-SHA256 of the body with EXECUTION_PLANE_SECRET>`. "
            "See docs/execution-plane.md."
        ),
        auth=[],
        request=_BODY,
        responses={
            200: APPLY_ANSWER,
            400: error_response(400, "Signed, but not a callback body.", "job_run_id is required"),
            401: error_response(
                401, "Missing or wrong X-Signature; nothing changed.", "missing or wrong X-Signature", code="invalid_signature"
            ),
        },
        examples=[
            OpenApiExample(
                "success",
                request_only=True,
                value={
                    "job_run_id": "3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b-20261201T010000Z-1",
                    "session_id": "sess_8f14e45f",
                    "message_id": "msg_c9f0f895",
                    "status": "success",
                    "outputs": [{"type": "pdf", "name": "report.pdf", "url": "https://files.example.com/r/8f14.pdf"}],
                },
            ),
            OpenApiExample("applied", response_only=True, status_codes=["200"], value={"status": "applied"}),
            OpenApiExample(
                "ignored", response_only=True, status_codes=["200"], value={"status": "ignored", "reason": "already finished"}
            ),
        ],
        tags=["runs"],
    )
    def post(self, request):
        raw = read_bounded(request)
        if not signature_ok(raw, request.headers.get("X-Signature", "")):
            log.warning("callback.bad_signature", signed="X-Signature" in request.headers)
            raise BadSignature()
        try:
            body = without_nul(parse_json(raw))
        except JSONInputError as exc:
            raise ValidationError(str(exc)) from None
        job_run_id = body.get("job_run_id") if isinstance(body, dict) else None
        if not isinstance(job_run_id, str) or not job_run_id:
            raise ValidationError("job_run_id is required")
        try:
            result = result_from_body(body)
        except PlaneError as exc:
            raise ValidationError(exc.message) from None
        answer = apply_callback(job_run_id=job_run_id, result=result, now=clock.now())
        log.info("callback.received", job_run_id=job_run_id, plane_status=result.status, **answer)
        return Response(answer)

"""`POST /api/v1/runs/langgraph/<job_run_id>/<token>/`: a LangGraph run's webhook.

The Agent Server calls a run's `webhook` URL when the run ends, unsigned. So the URL itself is
the proof: `token` is the HMAC-SHA256 of the `job_run_id` with EXECUTION_PLANE_SECRET
(runs.plane.langgraph.webhook_token), given only to the server that runs that attempt. A
wrong token is a 403 and changes nothing; with no secret set every webhook is refused (runs
then finish by polling).

The body is never read: whoever knows a URL could send anything, and a server that did not
sign it cannot be believed. The run and its thread are read back from the server instead
(`LangGraphPlaneClient.poll`) and applied like a signed callback (`runs.callback.apply_callback`).
When the server cannot be read the answer is a 503, which the server retries.
"""

from __future__ import annotations

import hmac
import threading

import structlog
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from config import clock
from config.api.errors import error_response
from runs.callback import APPLY_ANSWER, Outcome, PlaneEndpoint, apply_callback
from runs.models import ScheduleRun
from runs.plane import PlaneError
from runs.plane.langgraph import LangGraphPlaneClient, webhook_token

log = structlog.get_logger("runs.langgraph_webhook")

_client_lock = threading.Lock()
_client: LangGraphPlaneClient | None = None


def plane_client() -> LangGraphPlaneClient:
    """One client per process (its connections are per thread), for LANGGRAPH_URL as set now."""
    global _client
    with _client_lock:
        if _client is None or _client.url != settings.LANGGRAPH_URL.rstrip("/"):
            _client = LangGraphPlaneClient.from_settings()
        return _client


def token_ok(job_run_id: str, token: str) -> bool:
    secret = settings.EXECUTION_PLANE_SECRET
    if not secret or not token:
        return False
    return hmac.compare_digest(token.strip().lower().encode(), webhook_token(job_run_id, secret).encode())


class BadToken(APIException):
    status_code = 403
    default_code = "invalid_token"
    default_detail = "wrong webhook token"


class LangGraphWebhookView(PlaneEndpoint):
    # The token in the URL is the proof.

    @extend_schema(
        operation_id="runs_langgraph_webhook",
        summary="A LangGraph run ended (its webhook)",
        description=(
            "Called by the LangGraph Agent Server, not by people, at the URL we gave the run. The body "
            "is ignored: the run and its thread are read back from the server. See docs/execution-plane.md."
        ),
        auth=[],
        request=None,
        parameters=[
            OpenApiParameter(
                "job_run_id", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[A-Za-z0-9_.-]{1,128}$",
                description="The run's idempotency key, as we sent it to the server.",
            ),
            OpenApiParameter(
                "token", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[0-9a-f]{64}$",
                description="HMAC-SHA256 of the job_run_id with EXECUTION_PLANE_SECRET, in hex.",
            ),
        ],
        responses={
            200: APPLY_ANSWER,
            403: error_response(403, "Wrong token; nothing changed.", "wrong webhook token", code="invalid_token"),
            503: inline_serializer(
                "LangGraphWebhookUnavailable", {"code": serializers.CharField(), "detail": serializers.CharField()}
            ),
        },
        tags=["runs"],
    )
    def post(self, request, job_run_id: str, token: str):
        if not token_ok(job_run_id, token):
            log.warning("langgraph_webhook.bad_token", job_run_id=job_run_id[:200])
            raise BadToken()
        run = ScheduleRun.objects.filter(job_run_id=job_run_id).select_related("org", "schedule").first()
        if run is None:
            return Response({"status": Outcome.IGNORED, "reason": "unknown run"})
        if run.is_terminal:
            return Response({"status": Outcome.IGNORED, "reason": "already finished"})
        try:
            result = plane_client().poll(run)
        except (PlaneError, ValueError) as exc:
            log.warning("langgraph_webhook.read_back_failed", job_run_id=job_run_id, error=str(exc))
            return Response({"code": "plane_unavailable", "detail": "could not read the run back; try again"}, status=503)
        answer = apply_callback(job_run_id=job_run_id, result=result, now=clock.now())
        log.info("langgraph_webhook.received", job_run_id=job_run_id, plane_status=result.status, **answer)
        return Response(answer)

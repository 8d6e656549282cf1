"""One error shape for every 4xx the API answers, and its place in the OpenAPI schema.

    {"code": "invalid", "detail": "prompt: This field is required.",
     "errors": {"prompt": ["This field is required."]}}

`errors` (field -> messages, nested fields dotted: `retry_backoff_seconds.0`) is present on
400 only; `permission` on a 403 that is about a missing permission. Django's own
ValidationError (raised by the services for bad input), the domain errors of `config/errors.py`
(not visible, missing permission, invalid state, one invalid input field such as the timing
functions' `ScheduleError`), Http404 and PermissionDenied are mapped here, once, so a service
never has to know about HTTP and no view converts an exception by hand.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.fields import get_error_detail
from rest_framework.views import exception_handler as drf_exception_handler

from config import errors as domain
from config.api.parsers import BodyTooLarge

NON_FIELD = "non_field_errors"
API_PREFIX = "/api/"

# status -> (code used when the exception carries none, example detail)
_DEFAULTS = {
    400: ("invalid", "cron_expression: hour 25 is out of range 0-23"),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "missing permission schedules:write"),
    404: ("not_found", "schedule not found"),
    405: ("method_not_allowed", 'Method "PATCH" not allowed.'),
    406: ("not_acceptable", "Could not satisfy the request Accept header."),
    409: ("conflict", "run is success; only failed, timeout or canceled runs can be retried"),
    413: ("too_large", "the request body is larger than 2.5 MB (2621440 bytes); send less data"),
    415: ("unsupported_media_type", 'Unsupported media type "text/plain" in request.'),
    429: ("throttled", "too many requests; try again in 10 seconds (the Retry-After header says when)"),
}


class Conflict(exceptions.APIException):
    """409: the request is well-formed but the object's state does not allow it."""

    status_code = 409
    default_detail = "the object's state does not allow this"
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    code = serializers.CharField(help_text="Machine-readable reason, e.g. 'invalid', 'not_found'.")
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="400 only: field name -> messages; nested fields are dotted, e.g. 'retry_backoff_seconds.0'.",
    )
    permission = serializers.CharField(
        required=False, help_text="403 only, when a permission is missing, e.g. 'schedules:write'."
    )

    class Meta:
        ref_name = "Error"


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted field: [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if key in (NON_FIELD, "__all__") and not prefix:
                name = NON_FIELD
            for field, messages in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, (list, tuple)):
        for item in detail:
            if isinstance(item, (dict, list, tuple)):
                for field, messages in flatten_errors(item, prefix).items():
                    out.setdefault(field, []).extend(messages)
            else:
                out.setdefault(prefix or NON_FIELD, []).append(str(item))
    else:
        out.setdefault(prefix or NON_FIELD, []).append(str(detail))
    return out


def _first_code(detail) -> str | None:
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), None)
    if isinstance(detail, (list, tuple)):
        detail = detail[0] if detail else None
    if isinstance(detail, (dict, list, tuple)):
        return _first_code(detail)
    return getattr(detail, "code", None)


def error_body(exc: exceptions.APIException) -> dict:
    status = exc.status_code
    default_code = _DEFAULTS.get(status, ("error", ""))[0]
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        field, messages = next(iter(errors.items()), (NON_FIELD, ["invalid input"]))
        detail = messages[0] if field == NON_FIELD else f"{field}: {messages[0]}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more field{'s' if len(errors) > 2 else ''})"
        return {"code": "invalid", "detail": detail, "errors": errors}
    code = _first_code(exc.detail) or default_code
    if code in ("error", "invalid") and status != 400:
        code = default_code
    text = exc.detail if isinstance(exc.detail, str) else "; ".join(
        m for msgs in flatten_errors(exc.detail).values() for m in msgs
    )
    body = {"code": str(code), "detail": str(text)}
    if getattr(exc, "permission", None):
        body["permission"] = exc.permission
    return body


class MissingPermission(exceptions.PermissionDenied):
    """403 that names the permission the caller lacks."""

    def __init__(self, permission: str):
        # The domain error's words, in the request's language as DRF's own messages are.
        super().__init__(
            detail=gettext("missing permission %(permission)s") % {"permission": permission}, code="permission_denied"
        )
        self.permission = permission


def _from_domain(exc: domain.DomainError) -> exceptions.APIException:
    if isinstance(exc, domain.NotVisible):
        return exceptions.NotFound(exc.message)
    if isinstance(exc, domain.MissingPermission):
        return MissingPermission(exc.permission)
    if isinstance(exc, domain.InvalidState):
        return Conflict(exc.message)
    if isinstance(exc, domain.RateLimited):
        return exceptions.Throttled(wait=exc.wait)
    return exceptions.ValidationError(exc.message)


def exception_handler(exc, context):
    """DRF's handler (headers, rollback), with every error reshaped to the one shape."""
    if isinstance(exc, domain.DomainError):
        exc = _from_domain(exc)
    elif isinstance(exc, domain.InvalidInput):
        exc = exceptions.ValidationError(detail={exc.field: [exc.message]})
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let it be a 500 with a traceback in the logs
    response.data = error_body(exc)
    if isinstance(exc, exceptions.Throttled):
        wait = "a moment" if exc.wait is None else f"{max(1, round(exc.wait))} seconds"
        response.data["detail"] = f"too many requests; try again in {wait} (the Retry-After header says when)"
    return response


@csrf_exempt  # it changes nothing; without this a POST would get Django's HTML CSRF page
def api_not_found(request, *args, **kwargs):
    """Any path under /api/v1/ that no route matches: the JSON error shape, not an HTML page."""
    return JsonResponse({"code": "not_found", "detail": f"no API endpoint at {request.path}"}, status=404)


def bad_request(request, exception=None):
    """Django's handler400: under /api/ the JSON error shape, elsewhere Django's page.

    Django answers a SuspiciousOperation raised outside a DRF view (e.g. a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE read by the CSRF check of a session request) with this
    handler, which would otherwise be an HTML page.
    """
    if not request.path.startswith(API_PREFIX):
        return django_bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        error = BodyTooLarge()
        return JsonResponse({"code": error.default_code, "detail": str(error.detail)}, status=error.status_code)
    # Django's own messages can name settings and hosts: say only what the caller can act on.
    return JsonResponse(
        {"code": "bad_request", "detail": "the request is malformed (headers, fields or body) and was refused"},
        status=400,
    )


# --- OpenAPI -----------------------------------------------------------------------------


def error_response(
    status: int, description: str = "", detail: str | None = None, *, code: str | None = None
) -> OpenApiResponse:
    default_code, example_detail = _DEFAULTS[status]
    code = code or default_code
    value = {"code": code, "detail": detail or example_detail}
    if status == 400:
        field, named, message = value["detail"].partition(": ")
        value["errors"] = {field: [message]} if named else {NON_FIELD: [value["detail"]]}
    if status == 403 and value["detail"].startswith("missing permission "):
        value["permission"] = value["detail"].removeprefix("missing permission ")
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description or _DESCRIPTIONS[status],
        examples=[OpenApiExample(f"{status} {code}", value=value, response_only=True, status_codes=[str(status)])],
    )


_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each field and what is wrong with it.",
    401: "No or invalid credentials (session or `Authorization: Token <key>`).",
    403: "Authenticated, but a permission is missing; `permission` names it.",
    404: "No such object, or it belongs to an org you cannot read.",
    405: "Method not allowed on this path.",
    406: "The Accept header asks for a format the API cannot produce.",
    409: "The object's state does not allow this action.",
    413: "The request body is larger than the server accepts (setting DATA_UPLOAD_MAX_MEMORY_SIZE).",
    415: "The request body is not JSON (or form data).",
    429: "Too many writes or runs started by this user for now (settings API_THROTTLE_WRITE, API_THROTTLE_RUN); "
    "the Retry-After header says when to try again.",
}


def errors(*statuses: int, **details: str) -> dict[int, OpenApiResponse]:
    """Error responses for `@extend_schema(responses=...)`; `details={'403': '...'}` overrides examples."""
    return {status: error_response(status, detail=details.get(f"e{status}")) for status in statuses}


# Every operation may answer these regardless of its own logic.
COMMON_STATUSES = (401, 405, 406)
BODY_STATUSES = (413, 415)
WRITE_STATUSES = (429,)  # every POST, PUT, PATCH and DELETE is rate-limited (config/api/throttling.py)


def add_common_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the errors any operation can give.

    Also closes request bodies (`additionalProperties: false`) because the API rejects
    unknown fields instead of ignoring them.
    """
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, path_item in result.get("paths", {}).items():
        # The plane's callback is signed, not per user, and not rate-limited.
        limited = not path.endswith("/runs/callback/")
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            statuses = COMMON_STATUSES + (BODY_STATUSES if method in ("post", "put", "patch") else ())
            statuses += WRITE_STATUSES if method != "get" and limited else ()
            for status in statuses:
                responses.setdefault(
                    str(status),
                    {"content": {"application/json": {"schema": error_ref}}, "description": _DESCRIPTIONS[status]},
                )
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
    return result


__all__ = [
    "BodyTooLarge",
    "Conflict",
    "ErrorSerializer",
    "add_common_errors",
    "bad_request",
    "error_response",
    "errors",
    "exception_handler",
    "flatten_errors",
]

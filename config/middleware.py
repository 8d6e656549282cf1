import uuid

import structlog


class RequestIdMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` when sane) for logs and audit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response

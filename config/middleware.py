"""Request id and client address: what the logs and the audit trail say about a request."""

import ipaddress
import re
import uuid

import structlog
from django.conf import settings

# Ids that tracing systems send (hex, UUIDs, `Root=1-5759e988-...`), nothing that could break
# a log line, a header or a page: no spaces, quotes, angle brackets or non-ASCII.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,64}")
_PORT_V4 = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")
_PORT_V6 = re.compile(r"\[([0-9A-Fa-f:.]+)\]:\d{1,5}")


def request_id_from(given: str) -> str:
    """The caller's `X-Request-ID` when it is a sane id, else a new one."""
    return given if REQUEST_ID.fullmatch(given or "") else uuid.uuid4().hex


def valid_ip(text: str | None) -> str | None:
    """`text` as a normalised IP address, or None; a port (`ip:port`, `[v6]:port`) is dropped.

    Only an address is stored: PostgreSQL's inet refuses anything else (`unknown`,
    `203.0.113.7:52311`), which made every audited write a 500.
    """
    text = (text or "").strip()
    match = _PORT_V4.fullmatch(text) or _PORT_V6.fullmatch(text)
    if match:
        text = match.group(1)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the
    X-Forwarded-For entry the outermost of them wrote.

    Each proxy appends the address it received the request from, so with N trusted proxies
    the client is the N-th entry from the right; entries further left are whatever the client
    sent and prove nothing.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if proxies <= 0 or not hops:
        return valid_ip(request.META.get("REMOTE_ADDR"))
    # Fewer entries than proxies: the request skipped an outer proxy; every entry is a proxy's.
    return valid_ip(hops[-proxies] if len(hops) >= proxies else hops[0])


class RequestIdMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` when sane) for logs and audit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = request_id_from(request.headers.get("X-Request-ID", ""))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response

"""The production execution plane, over HTTP (the contract: docs/execution-plane.md).

Calls go through the project's one outgoing transport (config/transport.py): keep-alive
connections shared by the worker threads, no proxy from the environment, no redirects, and
one deadline per call that covers connecting, sending and reading the whole answer (a plane
dripping a byte at a time cannot hold a call open). Every failure becomes a PlaneError with a
code an operator can act on, and says whether the plane may have acted on the request
(`unknown_outcome`): the dispatcher keeps such an attempt instead of failing it (the
ambiguity rule, docs/execution-plane.md).
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote, unquote, urlsplit

import orjson
from django.conf import settings
from django.urls import reverse

from config.api.parsers import MAX_DEPTH, too_deep
from config.signing import sign
from config.transport import Transport, TransportError
from config.transport_async import AsyncTransport
from runs.models import RunErrorCode
from runs.plane.base import (
    PlaneError,
    PlaneResult,
    PlaneStatus,
    StartResult,
    redact_credentials,
    result_from_body,
    session_request,
    status_error,
)

MAX_ANSWER_BYTES = 1 << 20


def callback_url() -> str:
    return settings.SITE_URL + reverse("runs-callback")


class HttpPlaneClient:
    synchronous = False

    def __init__(self, *, base_url: str, timeout: float, secret: str = "", callback: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"EXECUTION_PLANE_URL must be an http(s) URL, got {redact_credentials(base_url)!r}")
        self.base_url = base_url.rstrip("/")
        # What errors and logs show: never the URL's password (tenants read run errors).
        self.shown_url = redact_credentials(self.base_url)
        self._auth = None
        if parts.username is not None:
            # Credentials in the URL are meant to be sent (an ingress in front of the plane).
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(userinfo.encode()).decode()
        # The URL without its credentials (sent as a header instead).
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = f":{parts.port}" if parts.port else ""
        self._origin = f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
        self.timeout = timeout
        self.secret = secret
        self.callback = callback
        # Keep-alive connections: a new TCP connection per call costs more than the call
        # itself at a thousand runs a second. One pool (of one connection) per worker thread:
        # one pool shared by sixteen threads made each call wait on the pool's lock, which it
        # holds while it checks every idle connection (half of a worker's time in a burst).
        self._local = threading.local()
        self._pools: list[Transport] = []  # every thread's, for close()
        self._pools_lock = threading.Lock()
        self._closes = 0  # a thread's pool from before the last close() is not used again
        # The dispatcher's event loop's connections (start_async), made on first use there.
        self._async_transport: AsyncTransport | None = None

    @classmethod
    def from_settings(cls) -> HttpPlaneClient:
        return cls(
            base_url=settings.EXECUTION_PLANE_URL,
            timeout=settings.EXECUTION_PLANE_TIMEOUT_SECONDS,
            secret=settings.EXECUTION_PLANE_SECRET,
        )

    # --- the three calls -------------------------------------------------------------------

    def start(self, run, *, on_started=None, timeout: float | None = None) -> StartResult:
        return self._started(self._call("POST", "/sessions", *self._create(run), timeout=timeout))

    async def start_async(self, run, *, timeout: float | None = None) -> StartResult:
        """`start` on the caller's event loop (the dispatcher's burst lane, runs/dispatch.py):
        the same request, answer and errors, over `config.transport_async`."""
        return self._started(await self._call_async("POST", "/sessions", *self._create(run), timeout=timeout))

    def _create(self, run) -> tuple[dict, dict]:
        body = session_request(run)
        if self.callback is None:
            # Once per client: reverse() on every call was a fifth of a worker's CPU.
            self.callback = callback_url()
        body["callback_url"] = self.callback
        # The job_run_id is the idempotency key: a redispatch after a crash (same id) must
        # get the session the first call created, never a second one.
        return body, {"Idempotency-Key": run.job_run_id}

    @staticmethod
    def _started(answer) -> StartResult:
        if not isinstance(answer, dict) or not isinstance(answer.get("session_id"), str) or not answer["session_id"]:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "the create answer has no session_id", unknown_outcome=True)
        status = answer.get("status") or PlaneStatus.QUEUED
        if status not in PlaneStatus.CONTRACT:
            raise PlaneError(
                RunErrorCode.PLANE_BAD_RESPONSE, f"the create answer has an unknown status {status!r}", unknown_outcome=True
            )
        message_id = answer.get("message_id") or ""
        if not isinstance(message_id, str) or len(answer["session_id"]) > 128 or len(message_id) > 128:
            raise PlaneError(
                RunErrorCode.PLANE_BAD_RESPONSE, "session_id and message_id must be strings of at most 128 characters",
                unknown_outcome=True,
            )
        return StartResult(session_id=answer["session_id"], message_id=message_id, status=status)

    def poll(self, run) -> PlaneResult:
        answer = self._call("GET", f"/sessions/{quote(run.session_id, safe='')}")
        return result_from_body(answer)

    def cancel(self, run) -> None:
        try:
            self._call("POST", f"/sessions/{quote(run.session_id, safe='')}/cancel", {})
        except PlaneError as exc:
            # Already finished or unknown: nothing left to stop.
            if exc.code not in (RunErrorCode.PLANE_SESSION_NOT_FOUND, RunErrorCode.PLANE_REJECTED):
                raise

    # --- transport -------------------------------------------------------------------------

    @property
    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None or self._local.closes != self._closes:
            transport = self._local.transport = Transport(keepalive=True, max_idle=1)
            with self._pools_lock:
                self._local.closes = self._closes
                self._pools.append(transport)
        return transport

    def close(self) -> None:
        """Close the idle keep-alive connections of every thread (the dispatcher calls it once,
        after its worker threads stopped: no call is in flight). A thread that calls again
        opens a new one."""
        with self._pools_lock:
            pools, self._pools = self._pools, []
            self._closes += 1
        for transport in pools:
            transport.close()

    def aclose(self) -> None:
        """Close the event loop's connections (on its thread, once no call is in flight)."""
        if self._async_transport is not None:
            self._async_transport.close()
            self._async_transport = None

    def _call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None, timeout: float | None = None):
        call = _Call(self, method, path, body, headers, timeout)
        try:
            answer = self._transport.request(**call.request)
        except TransportError as exc:
            raise call.failed(exc) from None
        return call.answered(answer)

    async def _call_async(self, method: str, path: str, body: dict | None = None, headers: dict | None = None, timeout: float | None = None):
        call = _Call(self, method, path, body, headers, timeout)
        if self._async_transport is None:
            self._async_transport = AsyncTransport()
        try:
            answer = await self._async_transport.request(**call.request)
        except TransportError as exc:
            raise call.failed(exc) from None
        return call.answered(answer)


class _Call:
    """One plane call, whichever transport carries it: the request, and what its outcome means."""

    def __init__(self, client: HttpPlaneClient, method: str, path: str, body: dict | None, headers: dict | None, timeout: float | None):
        raw = orjson.dumps(body) if body is not None else b""
        all_headers = {"Accept": "application/json", "User-Agent": "agent-schedules/1"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if client.secret:
            # Same scheme as the callback, so the plane can check who is calling.
            all_headers["X-Signature"] = sign(client.secret, raw)
        if client._auth:
            all_headers["Authorization"] = client._auth
        all_headers.update(headers or {})
        self.method, self.path = method, path
        self.where = f"{method} {client.shown_url}{path}"
        self.limit = client.timeout if timeout is None else min(client.timeout, timeout)
        # Every call is safe to repeat (create is idempotent by its key), so a connection
        # broken before any answer is tried once more, within the same deadline.
        self.request = {
            "method": method, "url": client._origin + path, "headers": all_headers,
            "body": raw if body is not None else None, "seconds": self.limit, "max_bytes": MAX_ANSWER_BYTES,
            "repeat_safe": True,
        }

    def failed(self, exc: TransportError) -> PlaneError:
        if exc.timed_out:
            return PlaneError(
                RunErrorCode.PLANE_TIMEOUT, f"{self.where}: no complete answer within {round(self.limit, 1):g} s",
                unknown_outcome=exc.sent,
            )
        return PlaneError(RunErrorCode.PLANE_UNREACHABLE, f"{self.where}: {exc}", unknown_outcome=exc.sent)

    def answered(self, answer):
        where = self.where
        status, data = answer.status, answer.body
        snippet = data[:300].decode("utf-8", "replace")
        if not 200 <= status < 300:
            # Redirects are not followed: nothing reached the plane's handler.
            raise status_error(
                status, where, snippet if status >= 400 else "",
                session_lookup=self.method == "GET" or self.path.endswith("/cancel"),
            )
        # From here the plane accepted the request (a 2xx): an answer we cannot read leaves
        # the outcome unknown, not failed.
        if answer.too_large:
            raise PlaneError(
                RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer larger than {MAX_ANSWER_BYTES} bytes", unknown_outcome=True
            )
        deep = False
        try:
            parsed = json.loads(data or b"{}")
        except ValueError:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer is not JSON: {snippet}", unknown_outcome=True) from None
        except RecursionError:
            # A megabyte of "[" exhausts the parser's stack. It must end the call as a bad
            # answer: an error escaping the client left the run to be sent again and again.
            deep = True
        # Nesting deeper than MAX_DEPTH takes twice that many brackets: a short answer (every
        # create answer) is not walked.
        if deep or (len(data) > 2 * MAX_DEPTH and too_deep(parsed)):
            raise PlaneError(
                RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer nests more than {MAX_DEPTH} levels", unknown_outcome=True
            )
        return parsed

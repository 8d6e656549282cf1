"""The production execution plane, over HTTP (the contract: docs/execution-plane.md).

Standard library `http.client`: a keep-alive connection per worker thread, no proxy from
the environment, no redirects, and one deadline per call that covers connecting, sending and
reading the whole answer (a plane dripping a byte at a time cannot hold a call open). Every
failure becomes a PlaneError with a code an operator can act on.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import io
import json
import socket
import threading
import time
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.urls import reverse

from config.api.parsers import MAX_DEPTH, too_deep
from runs.models import RunErrorCode, plane_http_error
from runs.plane.base import (
    PlaneError,
    PlaneResult,
    PlaneStatus,
    StartResult,
    redact_credentials,
    result_from_body,
    session_request,
)

MAX_ANSWER_BYTES = 1 << 20
# What a keep-alive connection the server closed while idle looks like on the next call.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def sign(secret: str, body: bytes) -> str:
    """The `X-Signature` value for a body: `sha256=<hex HMAC-SHA256 of the raw bytes>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_url() -> str:
    return settings.SITE_URL + reverse("runs-callback")


class _DeadlineReader(io.RawIOBase):
    """The response's socket, read with whatever time is left before the call's deadline.

    A socket timeout alone bounds each read, not the call: an answer dripping one byte every
    half second never trips a 10 s read timeout, and held a call (and its run's lease) open
    for minutes.
    """

    def __init__(self, sock, conn: _DeadlineConnection):
        self._sock = sock
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._conn.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    def __init__(self, sock, conn):
        self._sock, self._conn = sock, conn

    def makefile(self, mode="rb"):
        return io.BufferedReader(_DeadlineReader(self._sock, self._conn))


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock, *args, conn, **kwargs):
        super().__init__(_DeadlineSocket(sock, conn), *args, **kwargs)


class _DeadlineConnection:
    """Mixed into HTTP(S)Connection: `deadline` (time.monotonic()) bounds the whole exchange."""

    deadline = float("inf")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_class = functools.partial(_DeadlineResponse, conn=self)

    def begin_call(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        # Connecting (a new connection) and sending (a reused one) get what is left, too.
        self.timeout = seconds
        if self.sock is not None:
            self.sock.settimeout(seconds)


class _HTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    pass


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
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.secret = secret
        self.callback = callback
        # One keep-alive connection per worker thread: a new TCP connection per call costs
        # more than the call itself at a thousand runs a second.
        self._local = threading.local()

    @classmethod
    def from_settings(cls) -> HttpPlaneClient:
        return cls(
            base_url=settings.EXECUTION_PLANE_URL,
            timeout=settings.EXECUTION_PLANE_TIMEOUT_SECONDS,
            secret=settings.EXECUTION_PLANE_SECRET,
        )

    # --- the three calls -------------------------------------------------------------------

    def start(self, run, *, on_started=None, timeout: float | None = None) -> StartResult:
        body = session_request(run)
        if self.callback is None:
            # Once per client: reverse() on every call was a fifth of a worker's CPU.
            self.callback = callback_url()
        body["callback_url"] = self.callback
        # The job_run_id is the idempotency key: a redispatch after a crash (same id) must
        # get the session the first call created, never a second one.
        answer = self._call("POST", "/sessions", body, headers={"Idempotency-Key": run.job_run_id}, timeout=timeout)
        if not isinstance(answer, dict) or not isinstance(answer.get("session_id"), str) or not answer["session_id"]:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "the create answer has no session_id")
        status = answer.get("status") or PlaneStatus.QUEUED
        if status not in PlaneStatus.CONTRACT:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"the create answer has an unknown status {status!r}")
        message_id = answer.get("message_id") or ""
        if not isinstance(message_id, str) or len(answer["session_id"]) > 128 or len(message_id) > 128:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "session_id and message_id must be strings of at most 128 characters")
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

    def close(self) -> None:
        """Close this thread's connection (the dispatcher calls it on each worker at shutdown)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    @property
    def _reused(self) -> bool:
        return getattr(self._local, "reused", False)

    def _exchange(self, method: str, path: str, raw: bytes | None, headers: dict, deadline: float):
        conn = getattr(self._local, "conn", None)
        self._local.reused = conn is not None and conn.sock is not None
        if conn is None:
            conn_cls = _HTTPSConnection if self._https else _HTTPConnection
            conn = self._local.conn = conn_cls(self._host, self._port, timeout=self.timeout)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        conn.begin_call(left)
        conn.request(method, self._prefix + path, body=raw, headers=headers)
        response = conn.getresponse()
        data = response.read(MAX_ANSWER_BYTES + 1)
        if len(data) > MAX_ANSWER_BYTES:
            self.close()
        return response, data

    def _call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None, timeout: float | None = None):
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        all_headers = {"Accept": "application/json", "User-Agent": "agent-schedules/1"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if self.secret:
            # Same scheme as the callback, so the plane can check who is calling.
            all_headers["X-Signature"] = sign(self.secret, raw)
        if self._auth:
            all_headers["Authorization"] = self._auth
        all_headers.update(headers or {})
        where = f"{method} {self.shown_url}{path}"
        limit = self.timeout if timeout is None else min(self.timeout, timeout)
        # One deadline for the call, the retry on a fresh connection included.
        deadline = time.monotonic() + limit
        try:
            try:
                response, data = self._exchange(method, path, raw if body is not None else None, all_headers, deadline)
            except _STALE:
                if not self._reused:
                    raise
                # The plane closed our idle keep-alive connection: once more on a new one
                # (every call is safe to repeat: create is idempotent by its key).
                self.close()
                response, data = self._exchange(method, path, raw if body is not None else None, all_headers, deadline)
        except (socket.timeout, TimeoutError):
            self.close()
            raise PlaneError(RunErrorCode.PLANE_TIMEOUT, f"{where}: no complete answer within {round(limit, 1):g} s") from None
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            self.close()
            raise PlaneError(RunErrorCode.PLANE_UNREACHABLE, f"{where}: {type(exc).__name__}: {exc}") from None
        snippet = data[:300].decode("utf-8", "replace")
        if response.status >= 500:
            raise PlaneError(plane_http_error(response.status), f"{where} answered {response.status}: {snippet}")
        if response.status == 404 and (method == "GET" or path.endswith("/cancel")):
            raise PlaneError(RunErrorCode.PLANE_SESSION_NOT_FOUND, f"{where} answered 404: {snippet}")
        if response.status >= 400:
            raise PlaneError(RunErrorCode.PLANE_REJECTED, f"{where} answered {response.status}: {snippet}")
        if not 200 <= response.status < 300:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{where} answered {response.status}")
        if len(data) > MAX_ANSWER_BYTES:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer larger than {MAX_ANSWER_BYTES} bytes")
        deep = False
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer is not JSON: {snippet}") from None
        except RecursionError:
            # A megabyte of "[" exhausts the parser's stack. It must end the call as a bad
            # answer: an error escaping the client left the run to be sent again and again.
            deep = True
        if deep or too_deep(answer):
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: answer nests more than {MAX_DEPTH} levels")
        return answer

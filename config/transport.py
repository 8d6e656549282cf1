"""Outgoing HTTP for the whole project: the execution-plane client and the alert webhooks.

Built on httpcore (the connection layer of httpx): keep-alive pooling, HTTP/1.1 parsing
(h11), TLS. What it adds is one deadline for the whole call. A socket timeout alone bounds
each read, not the call: a server that drips one byte every half second, in its headers or
its body, never trips a 5 s read timeout. Here every connect, read and write of a call gets
only what is left of the call's deadline, so the call ends on time whatever the server does,
and the connection that missed it is closed by its own pool (never a socket another call
uses: nothing is closed from another thread).

Errors tell the caller whether the request can have reached the server (`TransportError.sent`):
a connection that was never made means it did not; anything after connecting may have.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ssl
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import httpcore

# The monotonic deadline of the call running in this thread, and the checked address to
# connect to instead of resolving the host again (webhooks: DNS rebinding).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("transport_deadline", default=None)
_pinned: contextvars.ContextVar[str | None] = contextvars.ContextVar("transport_pinned", default=None)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation gets at most what is left of the call's deadline.

    Writes are held until the first read: the request's headers and body then leave in one
    send (as http.client sends them), not two, which a server would otherwise wake up for twice.
    """

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream
        self._pending = b""

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._pending:
            pending, self._pending = self._pending, b""
            self._stream.write(pending, _left(timeout, httpcore.WriteTimeout))
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._pending += buffer

    def close(self) -> None:
        self._pending = b""
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self):
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        # TLS still checks the certificate against the URL's host (start_tls gets it).
        host = _pinned.get() or host
        stream = self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover - not used
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every pool (reading the system's certificates costs tens of
    milliseconds, and the plane client keeps a pool per worker thread)."""
    return ssl.create_default_context()


class Answer(NamedTuple):
    status: int
    body: bytes
    too_large: bool = False  # the body was cut at max_bytes


class TransportError(Exception):
    """The call produced no complete answer.

    `sent`: False when no connection was made (refused, no route, DNS, connect timeout), so
    the request surely did not reach the server; True when it may have. `timed_out`: the
    call's deadline passed.
    """

    def __init__(self, message: str, *, sent: bool, timed_out: bool):
        super().__init__(message)
        self.sent = sent
        self.timed_out = timed_out


_NOT_SENT = (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.UnsupportedProtocol)
_TIMEOUTS = (httpcore.TimeoutException,)


class Transport:
    """HTTP calls with a whole-call deadline. Thread-safe; one per client is enough.

    `keepalive`: reuse connections between calls (the plane); off, every call gets a fresh
    connection that is closed after it (webhooks: each goes to another host, pinned to the
    address that was checked).
    """

    def __init__(self, *, keepalive: bool = True, max_idle: int = 64):
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context(),
            max_connections=None,
            max_keepalive_connections=max_idle if keepalive else 0,
            keepalive_expiry=30.0 if keepalive else 0.0,
            network_backend=_DeadlineBackend(),
        )

    def close(self) -> None:
        self._pool.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        seconds: float,
        max_bytes: int = 1 << 20,
        address: str | None = None,
        repeat_safe: bool = False,
    ) -> Answer:
        """One call, over within `seconds` (connecting, sending, the whole answer), or TransportError.

        `address`: connect there rather than resolving the URL's host. `repeat_safe`: the
        request may be sent twice (the plane's calls are); a connection broken without an
        answer, typically a keep-alive connection the server closed while idle, is then tried
        once more on a new one, within the same deadline. The body is read up to `max_bytes`
        (`too_large` says it was longer).
        """
        deadline = time.monotonic() + seconds
        tries = 2 if repeat_safe else 1
        for attempt in range(1, tries + 1):
            try:
                return self._once(method, url, headers, body, deadline, max_bytes, address)
            except TransportError as exc:
                if exc.timed_out or not exc.sent or attempt == tries:
                    raise

    def _once(self, method, url, headers, body, deadline, max_bytes, address) -> Answer:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        where = httpcore.URL(scheme=parts.scheme, host=parts.hostname or "", port=parts.port, target=target)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError("the call's deadline passed", sent=False, timed_out=True)
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        deadline_token, pinned_token = _deadline.set(deadline), _pinned.set(address)
        try:
            with self._pool.stream(
                method, where, headers=headers, content=body, extensions={"timeout": timeouts}
            ) as response:
                chunks, size, too_large = [], 0, False
                for chunk in response.iter_stream():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        too_large = True
                        break
                data = b"".join(chunks)[: max_bytes + 1 if too_large else None]
                return Answer(response.status, data, too_large)
        except _TIMEOUTS as exc:
            sent = not isinstance(exc, httpcore.ConnectTimeout)
            raise TransportError(f"no complete answer in time ({type(exc).__name__})", sent=sent, timed_out=True) from None
        except _NOT_SENT as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", sent=False, timed_out=False) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", sent=True, timed_out=False) from None
        finally:
            _deadline.reset(deadline_token)
            _pinned.reset(pinned_token)


# --- for clients built on httpx (the LangGraph SDK's) ----------------------------------------


def network_backend() -> httpcore.NetworkBackend:
    """The deadline-aware connection layer, for an httpx transport's pool: inside `deadline()`
    every connect, read and write gets at most what is left of it."""
    return _DeadlineBackend()


@contextlib.contextmanager
def deadline(seconds: float):
    """One deadline for all the requests made inside (over a `network_backend()` pool)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)

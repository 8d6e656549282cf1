"""Outgoing HTTP on an asyncio event loop: the dispatcher's plane calls in a burst.

The same contract as `config.transport.Transport.request` (the one deadline for the whole
call, `Answer`, `TransportError` with `sent` and `timed_out`, one more try on a new connection
for a repeat-safe call that broke without an answer), for a caller that keeps hundreds of
calls in flight. Threads were the cost: sixteen worker threads each blocking in a call took
410-475 us of CPU per call between them (GIL hand-offs and the pure-Python HTTP parser),
against 34-37 us here on one thread (the same calls to a minimal loopback server, same run),
which is what a 10,000-run burst at 09:00 needs.

HTTP/1.1 keep-alive connections over asyncio, parsed by httptools (llhttp, the parser node.js
and uvicorn use). What it speaks is what a plane call needs: a request with a body of known
length, and an answer delimited by Content-Length, chunked encoding or the end of the
connection (an HTTP/1.0 server). It follows no redirect, reads no proxy from the
environment, and never sends Expect. Not thread-safe: one instance belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections import defaultdict
from urllib.parse import urlsplit

import httptools

from config.transport import Answer, TransportError, ssl_context

KEEPALIVE_SECONDS = 30.0  # an idle connection older than this is not used again (as Transport's)
# What would end a header line early, or (in a name) its name.
_BAD_VALUE = re.compile(r"[\r\n\0]")
_BAD_NAME = re.compile(r"[\r\n\0:]")


class _Failed(Exception):
    """The answer could not be read; `answered`: some of it had arrived."""

    def __init__(self, message: str, *, answered: bool):
        super().__init__(message)
        self.answered = answered


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one call at a time, the answer parsed as it arrives."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._reset(0)

    def _reset(self, max_bytes: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._max_bytes = max_bytes
        self._too_large = False
        self._received = False
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: the end of the body is known

    # --- one call ------------------------------------------------------------------------

    def send(self, request: bytes, max_bytes: int) -> asyncio.Future:
        self._reset(max_bytes)
        self.reusable = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A request leaves in one write; Nagle would hold a second small one for an ack.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for (a server talking out of turn): not a connection to reuse.
            self.abort()
            return
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"unreadable answer: {exc}")
            self.abort()

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:
            self._finish()  # an answer delimited by the end of the connection (HTTP/1.0)
            return
        self._fail("the connection closed before a complete answer" + (f" ({exc})" if exc else ""))

    # --- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        status = self.parser.get_status_code()
        if status in (204, 304) or 100 <= status < 200:
            self._framed = True  # no body

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._chunks.append(body)
        self._size += len(body)
        if self._size > self._max_bytes:
            self._too_large = True
            self._finish()
            self.abort()  # the rest of the answer is not read: the connection cannot be reused

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._reset(self._max_bytes)  # an informational answer (103): the real one follows
            self._received = True
            return
        self.reusable = self.parser.should_keep_alive() and not self._too_large
        self._finish()

    # --- the waiter ----------------------------------------------------------------------

    def _finish(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            body = b"".join(self._chunks)
            if self._too_large:
                body = body[: self._max_bytes + 1]
            self._waiter.set_result(Answer(self.parser.get_status_code(), body, self._too_large))

    def _fail(self, message: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(_Failed(message, answered=self._received))


class AsyncTransport:
    """HTTP calls with a whole-call deadline on one event loop, over keep-alive connections.

    `max_idle`: idle connections kept per origin (the dispatcher keeps one per call it allows
    in flight).
    """

    def __init__(self, *, max_idle: int = 64):
        self.max_idle = max_idle
        self._idle: dict[tuple, list[_Connection]] = defaultdict(list)
        self._open: set[_Connection] = set()
        # url -> (origin, secure, the request line and Host header): a burst calls one URL.
        self._targets: dict[str, tuple] = {}

    def close(self) -> None:
        """Close every connection (on the loop's thread, once no call is in flight)."""
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        seconds: float,
        max_bytes: int = 1 << 20,
        repeat_safe: bool = False,
    ) -> Answer:
        """One call, over within `seconds` (connecting, sending, the whole answer), or TransportError."""
        deadline = time.monotonic() + seconds
        tries = 2 if repeat_safe else 1
        for attempt in range(1, tries + 1):
            try:
                return await self._once(method, url, headers, body, deadline, max_bytes)
            except TransportError as exc:
                if exc.timed_out or not exc.sent or attempt == tries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method, url, headers, body, deadline, max_bytes) -> Answer:
        origin, secure, head = self._target(method, url)
        request = _request_bytes(head, headers, body)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError("the call's deadline passed", sent=False, timed_out=True)
        connection = None
        try:
            async with asyncio.timeout(left):
                connection = self._idle_connection(origin) or await self._connect(origin, secure)
                answer = await connection.send(request, max_bytes)
        except TimeoutError:
            sent = connection is not None
            if connection is not None:
                connection.abort()  # it may still get the late answer: not to be reused
                self._open.discard(connection)
            raise TransportError("no complete answer in time", sent=sent, timed_out=True) from None
        except _Failed as exc:
            self._open.discard(connection)
            connection.abort()
            raise TransportError(str(exc), sent=True, timed_out=False) from None
        if connection.reusable and not connection.closed and len(self._idle[origin]) < self.max_idle:
            connection.idle_since = time.monotonic()
            self._idle[origin].append(connection)
        else:
            connection.abort()
            self._open.discard(connection)
        return answer

    def _target(self, method: str, url: str) -> tuple:
        key = f"{method} {url}"
        found = self._targets.get(key)
        if found is None:
            if len(self._targets) > 256:
                self._targets.clear()  # URLs with ids in them (polls): do not grow without end
            parts = urlsplit(url)
            secure = parts.scheme == "https"
            host, port = parts.hostname or "", parts.port or (443 if secure else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            authority = f"[{host}]" if ":" in host else host
            if port != (443 if secure else 80):
                authority = f"{authority}:{port}"
            found = self._targets[key] = ((parts.scheme, host, port), secure, f"{method} {target} HTTP/1.1\r\nHost: {authority}\r\n")
        return found

    def _idle_connection(self, origin) -> _Connection | None:
        idle = self._idle[origin]
        while idle:
            connection = idle.pop()
            if not connection.closed and time.monotonic() - connection.idle_since < KEEPALIVE_SECONDS:
                return connection
            connection.abort()
            self._open.discard(connection)
        return None

    async def _connect(self, origin, secure: bool) -> _Connection:
        _, host, port = origin
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, host, port, ssl=ssl_context() if secure else None,
                server_hostname=host if secure else None,
            )
        except (OSError, ssl.SSLError) as exc:  # refused, no route, DNS, TLS: nothing was sent
            raise TransportError(f"{type(exc).__name__}: {exc}", sent=False, timed_out=False) from None
        self._open.add(connection)
        return connection


def _request_bytes(head: str, headers: dict[str, str], body: bytes | None) -> bytes:
    if _BAD_NAME.search("".join(headers)) or _BAD_VALUE.search("".join(headers.values())):
        # A header that would split the request: never sent.
        raise TransportError("a header holds a line break", sent=False, timed_out=False)
    lines = [head]
    for name, value in headers.items():
        lines.append(f"{name}: {value}\r\n")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    try:
        encoded = "".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise TransportError("a header is not Latin-1 text", sent=False, timed_out=False) from None
    return encoded + body if body else encoded

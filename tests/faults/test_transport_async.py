"""The event-loop transport (config/transport_async.py) against real servers: the loopback plane
over HTTP/1.1 and HTTP/1.0 behind the fault proxy, and raw sockets answering what a plane or
a gateway may send. It must classify every outcome as the thread transport does: `sent` says
whether the plane may have acted, `timed_out` that the call's one deadline passed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time

import pytest

from config.transport import Transport, TransportError
from config.transport_async import AsyncTransport
from tests.faults.proxy import Fault, FaultProxy
from tests.plane_server import PlaneServer

DEADLINE = 1.0
BODY = b'{"agent":"echo","prompt":"hi"}'


def run_on_a_loop(coroutine):
    """`asyncio.run` in a thread of its own, as the dispatcher runs its loop: the suite's
    browser tests leave Playwright's loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def call(url: str, *, key: str = "k-1", seconds: float = DEADLINE, repeat_safe: bool = True, transport=None, **kw):
    """One POST /sessions on a fresh event loop; returns (Answer or TransportError, seconds taken)."""

    async def once():
        mine = transport or AsyncTransport()
        try:
            return await mine.request(
                "POST", url + "/sessions", headers={"Idempotency-Key": key, "Content-Type": "application/json", **kw.pop("headers", {})},
                body=BODY, seconds=seconds, repeat_safe=repeat_safe, **kw,
            )
        finally:
            if transport is None:
                mine.close()

    started = time.monotonic()
    try:
        outcome = run_on_a_loop(once())
    except TransportError as exc:
        outcome = exc
    return outcome, time.monotonic() - started


def call_threaded(url: str, *, key: str = "k-1", repeat_safe: bool = True):
    try:
        return Transport(keepalive=True).request(
            "POST", url + "/sessions", headers={"Idempotency-Key": key, "Content-Type": "application/json"},
            body=BODY, seconds=DEADLINE, repeat_safe=repeat_safe,
        )
    except TransportError as exc:
        return exc


def shape(outcome) -> tuple:
    """What a caller acts on: the status of an answer, or (sent, timed_out) of an error."""
    if isinstance(outcome, TransportError):
        return ("error", outcome.sent, outcome.timed_out)
    return ("answer", outcome.status)


@pytest.fixture(params=["keepalive", "http10"])
def proxied(request):
    plane = PlaneServer(http10=request.param == "http10").start()
    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    yield plane, proxy
    proxy.stop()
    plane.stop()


FAULTS = [
    # (fault, inject options, what both transports must say)
    (None, {}, ("answer", 201)),
    (Fault.REFUSE, {}, ("error", False, False)),
    (Fault.LATE_ANSWER, {"delay": DEADLINE * 3}, ("error", True, True)),
    (Fault.STALLED_BODY, {}, ("error", True, True)),
    (Fault.DRIPPING_BODY, {"delay": DEADLINE / 5}, ("error", True, True)),
    (Fault.DRIPPING_ANSWER, {"delay": DEADLINE / 5}, ("error", True, True)),
    (Fault.BAD_GATEWAY, {}, ("answer", 502)),
    (Fault.GATEWAY_TIMEOUT, {}, ("answer", 504)),
]


@pytest.mark.parametrize("fault,options,expected", FAULTS, ids=[str(f[0]) for f in FAULTS])
def test_each_fault_reads_as_the_thread_transport_reads_it_and_ends_by_the_deadline(proxied, fault, options, expected):
    plane, proxy = proxied
    outcomes = []
    for transport in ("threads", "event loop"):
        if fault is not None:
            proxy.inject(fault, match="POST /sessions", **options)
        if transport == "threads":
            started = time.monotonic()
            outcome = call_threaded(proxy.url, key="by-threads")
            took = time.monotonic() - started
        else:
            outcome, took = call(proxy.url, key="by-the-loop")
        proxy.clear()
        outcomes.append(shape(outcome))
        assert took < DEADLINE + 0.5, f"{transport}: {fault} held the call {took:.2f} s"
    assert outcomes == [expected, expected]


def test_a_reset_after_the_request_is_sent_again_once_with_the_same_key(proxied):
    """The plane got the request (it may have acted): the repeat-safe create is tried once
    more on a new connection and the plane deduplicates it by its key."""
    plane, proxy = proxied
    proxy.inject(Fault.RESET_AFTER_REQUEST, match="POST /sessions")
    outcome, _ = call(proxy.url, key="same-key")
    # 200, not 201: the second try was answered with the session the first one created.
    assert shape(outcome) == ("answer", 200)
    assert len(plane.sessions) == 1

    proxy.inject(Fault.RESET_AFTER_REQUEST, match="POST /sessions")
    outcome, _ = call(proxy.url, key="other-key", repeat_safe=False)
    assert shape(outcome) == ("error", True, False)


def sequential_creates(url: str, count: int) -> list:
    """`count` creates one after another on one transport."""

    async def creates():
        transport = AsyncTransport()
        try:
            return [
                await transport.request("POST", url + "/sessions", headers={"Idempotency-Key": f"k-{n}"}, body=BODY, seconds=2)
                for n in range(count)
            ]
        finally:
            transport.close()

    return run_on_a_loop(creates())


def test_a_plane_that_closes_after_every_answer_gets_every_create_through():
    """HTTP/1.0, as http.server speaks it: the body in a segment after the headers, then the
    connection closed. One transport for ten calls: each needs a new connection."""
    plane = PlaneServer(http10=True).start()
    try:
        answers = sequential_creates(plane.url, 10)
    finally:
        plane.stop()
    assert [a.status for a in answers] == [201] * 10
    assert len(plane.sessions) == 10


def test_keep_alive_connections_are_reused_across_calls():
    """Twenty calls one after another go over one connection (the plane sees one peer port)."""
    plane = PlaneServer().start()
    ports = set()
    plane.on_session_start = lambda session: ports.add(next(iter(plane._connections)).getpeername()[1])
    try:
        answers = sequential_creates(plane.url, 20)
    finally:
        plane.stop()
    assert [a.status for a in answers] == [201] * 20
    assert len(plane.sessions) == 20 and len(ports) == 1


# --- raw answers ---------------------------------------------------------------------------------


class Canned:
    """A socket server that reads one request per connection and answers `answer` bytes, then
    closes the connection when `close` is set."""

    def __init__(self, answer: bytes, *, close: bool = True):
        self.answer, self.close = answer, close
        self.requests: list[bytes] = []
        self._stopped = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), b"0"))
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(data)
                conn.sendall(self.answer)
                if not self.close:
                    self._stopped.wait()  # the connection stays open until the test is done

    def stop(self) -> None:
        self._stopped.set()
        self.sock.close()


def answered_by(answer: bytes, *, close: bool = True, **options) -> tuple:
    """One call to a Canned server: (outcome, seconds taken, the requests it read)."""
    server = Canned(answer, close=close)
    try:
        outcome, took = call(server.url, **options)
    finally:
        server.stop()
    return outcome, took, server.requests


@pytest.mark.parametrize(
    "answer,status,body",
    [
        # Delimited by the end of the connection (an HTTP/1.0 server without Content-Length).
        (b"HTTP/1.0 201 Created\r\nContent-Type: application/json\r\n\r\n{\"session_id\":\"s\"}", 201, b'{"session_id":"s"}'),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n", 201, b'{"a": 1}'),
        # An informational answer first (103 Early Hints): the real one follows.
        (b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 201, b"{}"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
    ],
    ids=["until-close", "chunked", "informational-first", "no-content"],
)
def test_answers_framed_every_way_a_server_may_frame_them(answer, status, body):
    outcome, _, _ = answered_by(answer)
    assert (outcome.status, outcome.body, outcome.too_large) == (status, body, False)


def test_an_answer_cut_short_is_an_error_after_sending_not_an_answer():
    outcome, _, _ = answered_by(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"session_id\"", repeat_safe=False)
    assert shape(outcome) == ("error", True, False)


def test_an_answer_larger_than_the_limit_is_cut_and_flagged():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    outcome, took, _ = answered_by(answer, close=False, max_bytes=1000)
    assert (outcome.status, len(outcome.body), outcome.too_large) == (200, 1001, True)
    assert took < DEADLINE


def test_garbage_instead_of_http_is_an_error_after_sending():
    outcome, _, _ = answered_by(b"SSH-2.0-OpenSSH_9.2\r\n", repeat_safe=False)
    assert shape(outcome) == ("error", True, False)


def test_a_header_that_would_split_the_request_is_never_sent():
    outcome, _, requests = answered_by(
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", headers={"X-Evil": "a\r\nX-Injected: 1"}
    )
    assert shape(outcome) == ("error", False, False)
    assert requests == []

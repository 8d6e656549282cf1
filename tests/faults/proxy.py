"""A fault-injecting TCP proxy for HTTP/1.x, on loopback, written for the tests.

It sits between a client and a real server and, request by request, either relays the
exchange untouched or breaks it the way real networks and gateways do. Nothing here knows the
client: the faults happen on real sockets.

    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    proxy.inject(Fault.RESET_AFTER_REQUEST, times=1, match="POST /sessions")
    ...                                  # point the client at proxy.url
    proxy.stop()

Faults (`Fault`):
- `REFUSE`: the listening socket is closed while the fault lasts (connection refused);
- `RESET_BEFORE_REQUEST`: the connection is accepted, then reset before the request is read
  (nothing reaches the server);
- `RESET_AFTER_REQUEST`: the request is relayed to the server (which acts on it), then the
  client's connection is reset before any answer;
- `LATE_ANSWER`: the server's answer is held `delay` seconds, then sent;
- `STALLED_BODY`: the answer's status line and headers are sent, the body never is (the
  connection stays open until the client gives up or `stop()`);
- `DRIPPING_BODY`: headers, then the body one byte every `delay` seconds;
- `DRIPPING_ANSWER`: the whole answer, status line and headers included, one byte every
  `delay` seconds (each byte beats a read timeout);
- `BAD_GATEWAY` / `GATEWAY_TIMEOUT`: the request is relayed (the server acts on it), the
  server's answer is dropped and the proxy answers 502 / 504 itself;
- `UNAVAILABLE`: the proxy answers 503 without relaying anything.

`inject(kind, times=N, match="POST /sessions")` applies a fault to the next N matching
requests (`times=None`: until `clear()`); other requests are relayed. `applied` counts the
faults used, `relayed` the requests the server saw. Standard library only.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass


class Fault:
    REFUSE = "refuse"
    RESET_BEFORE_REQUEST = "reset_before_request"
    RESET_AFTER_REQUEST = "reset_after_request"
    LATE_ANSWER = "late_answer"
    STALLED_BODY = "stalled_body"
    DRIPPING_BODY = "dripping_body"
    DRIPPING_ANSWER = "dripping_answer"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"


_GATEWAY_STATUS = {Fault.BAD_GATEWAY: 502, Fault.UNAVAILABLE: 503, Fault.GATEWAY_TIMEOUT: 504}
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class _Rule:
    kind: str
    times: int | None
    match: str
    delay: float


class _Closed(Exception):
    pass


def _read_until(sock: socket.socket, buffer: bytearray, marker: bytes) -> int:
    while True:
        at = buffer.find(marker)
        if at >= 0:
            return at + len(marker)
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed
        buffer += chunk


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    out = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def read_message(sock: socket.socket, buffer: bytearray, *, response: bool = False) -> tuple[bytes, bytes, bool]:
    """One HTTP/1.x message from `sock` (what `buffer` already holds first): (head, body, closes).

    `closes`: the connection ends after this message (HTTP/1.0 without keep-alive, or
    `Connection: close`). A response without a length is read until the server closes.
    """
    end = _read_until(sock, buffer, b"\r\n\r\n")
    head = bytes(buffer[:end])
    del buffer[:end]
    headers = _headers(head)
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    version = first.split(" ", 1)[0] if response else first.rsplit(" ", 1)[-1]
    connection = headers.get("connection", "").lower()
    closes = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(buffer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed
            buffer += chunk
        body = bytes(buffer[:length])
        del buffer[:length]
    elif response and "chunked" in headers.get("transfer-encoding", "").lower():
        raise NotImplementedError("chunked answers are not relayed by this proxy")
    elif response:
        chunks = [bytes(buffer)]
        buffer.clear()
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        body, closes = b"".join(chunks), True
    else:
        body = b""
    return head, body, closes


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0):
        self.upstream = upstream
        self.host, self.port = host, port
        self.applied: dict[str, int] = {}
        self.relayed = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._unlisten()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(256)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept_loop, args=(listener,), name="fault-proxy", daemon=True)
        self._accepting.start()

    def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
            self._accepting.join(timeout=5)

    # --- programming it --------------------------------------------------------------------------

    def inject(self, kind: str, *, times: int | None = 1, match: str = "", delay: float = 0.0) -> None:
        """Apply `kind` to the next `times` requests whose "METHOD /path" starts with `match`.

        `REFUSE` closes the listener at once (until `clear()`; `times` is not used)."""
        if kind == Fault.REFUSE:
            self._unlisten()
            self._count(kind)
            return
        with self._lock:
            self._rules.append(_Rule(kind, times, match, delay))

    def clear(self) -> None:
        """Relay everything again (and listen again after REFUSE)."""
        with self._lock:
            self._rules.clear()
        if not self._stopping.is_set():
            self._listen()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.applied[kind] = self.applied.get(kind, 0) + 1

    def _use(self, wanted) -> _Rule | None:
        """The first rule `wanted(rule)` accepts, counted (and dropped once used up)."""
        with self._lock:
            for rule in self._rules:
                if wanted(rule):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    self.applied[rule.kind] = self.applied.get(rule.kind, 0) + 1
                    return rule
        return None

    def _take(self, request_line: str) -> _Rule | None:
        return self._use(lambda rule: rule.kind != Fault.RESET_BEFORE_REQUEST and request_line.startswith(rule.match))

    def _peek_reset(self) -> bool:
        """RESET_BEFORE_REQUEST applies per connection, before any byte is read."""
        return self._use(lambda rule: rule.kind == Fault.RESET_BEFORE_REQUEST) is not None

    # --- the relay -------------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="fault-proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self._open.add(client)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        try:
            if self._peek_reset():
                _reset(client)
                return
            while not self._stopping.is_set():
                head, body, client_closes = read_message(client, buffer)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, path = line.split(" ")[:2]
                rule = self._take(f"{method} {path}")
                if not self._exchange(client, head + body, rule):
                    return
                if client_closes:
                    return
        except (_Closed, OSError):
            pass
        finally:
            with self._lock:
                self._open.discard(client)
            try:
                client.close()
            except OSError:
                pass

    def _exchange(self, client: socket.socket, request: bytes, rule: _Rule | None) -> bool:
        """Relay one request under `rule`; False when the client connection must end."""
        kind = rule.kind if rule else None
        if kind == Fault.UNAVAILABLE:
            return self._answer_status(client, 503)
        with socket.create_connection(self.upstream, timeout=30) as server:
            server.sendall(request)
            with self._lock:
                self.relayed += 1
            if kind == Fault.RESET_AFTER_REQUEST:
                # The server has the request; wait until it acted on it (its answer), then reset.
                read_message(server, bytearray(), response=True)
                _reset(client)
                return False
            head, body, closes = read_message(server, bytearray(), response=True)
        if kind in (Fault.BAD_GATEWAY, Fault.GATEWAY_TIMEOUT):
            return self._answer_status(client, _GATEWAY_STATUS[kind])
        if kind == Fault.LATE_ANSWER:
            self._stopping.wait(rule.delay)
        if kind == Fault.STALLED_BODY:
            client.sendall(head)
            self._stopping.wait()
            return False
        if kind in (Fault.DRIPPING_BODY, Fault.DRIPPING_ANSWER):
            drip = body
            if kind == Fault.DRIPPING_BODY:
                client.sendall(head)
            else:
                drip = head + body
            for i in range(len(drip)):
                if self._stopping.wait(rule.delay):
                    return False
                client.sendall(drip[i : i + 1])
            return not closes
        client.sendall(head + body)
        return not closes

    def _answer_status(self, client: socket.socket, status: int) -> bool:
        body = f'{{"error": "{_REASONS[status].lower()}"}}'.encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        client.sendall(head.encode() + body)
        return False


def accepts(host: str, port: int) -> bool:
    """Whether something accepts connections on (host, port) now (for `wait_until`)."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False

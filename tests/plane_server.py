"""A real execution plane on loopback that speaks the contract (docs/execution-plane.md).

Not a mock: an `http.server.ThreadingHTTPServer` in a thread, on a free port, answering
`POST /sessions` (deduplicated by `Idempotency-Key`: the same key gets the same session),
`GET /sessions/{id}`, `POST /sessions/{id}/cancel` and `GET /stats` (session counts).
Tests program it per case:

- `fail_with = 500`: every call answers that status;
- `delay_seconds = 5`: every answer is held that long (or until `release()`), for "too slow";
- `drip_seconds = 0.5`: every answer (status line and headers included) is sent one byte at a
  time, this long apart (faster once released): each byte beats a read timeout, the whole
  answer takes minutes;
- `malformed = True`: the create answer is not JSON (bytes: the create answer is those bytes);
- `down()` / `up()`: close the listening socket (connection refused) and reopen it on the
  same port;
- `complete(session_id, status, outputs)` finishes a session (poll answers change), and
  `send_callback(session_id, client=... | url=...)` posts the signed callback;
- `on_session_start(session)` is called in the handler thread when a new session starts;
- `PlaneServer(http10=True)`: HTTP/1.0, as `http.server` answers by default (`Connection:
  close` after every answer).

Standalone, for multi-process tests and benchmarks (prints the port, then serves until
SIGTERM/SIGINT):

    python -m tests.plane_server --port 0 --secret s3cret --complete-after 0.5 --callback

Standard library only, so it runs without Django.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import signal
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIVE = ("queued", "running")
CALLBACK_PATH = "/api/v1/runs/callback/"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Session:
    session_id: str
    message_id: str
    job_run_id: str
    request: dict
    started: float
    status: str = "running"
    outputs: list = field(default_factory=list)
    error: dict | None = None
    cancel_requested: bool = False
    callback_sent: bool = False
    # The sessions open when this one started (itself included), taken under the server's
    # lock: a hook that looked later could see a session another thread finished meanwhile.
    # Only listed while an `on_session_start` hook is set (a copy per create costs a benchmark
    # with ten thousand sessions open more than the create itself).
    open_at_start: list = field(default_factory=list)
    org: str = ""

    def body(self) -> dict:
        out = {
            "job_run_id": self.job_run_id,
            "session_id": self.session_id,
            "message_id": self.message_id,
            "status": self.status,
            "outputs": self.outputs,
        }
        if self.error:
            out["error"] = self.error
        return out


class PlaneServer:
    def __init__(
        self,
        *,
        secret: str = "plane-test-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        complete_after: float | None = None,
        complete_status: str = "success",
        send_callbacks: bool = False,
        http10: bool = False,
    ):
        self.secret = secret
        # HTTP/1.0, as `http.server` speaks it by default: the connection closes after every
        # answer (the body goes in a TCP segment of its own, after the headers).
        self.http10 = http10
        self.host = host
        self.port = port
        # Behaviour, programmable per test.
        self.fail_with: int | None = None
        self.delay_seconds: float = 0.0
        self.drip_seconds: float = 0.0
        # What the last dripped answer sent before the client hung up, out of its whole length.
        self.dripped_bytes = 0
        self.drip_answer_bytes = 0
        self.malformed = False
        self.on_session_start = None
        # Standalone mode: sessions finish by themselves after `complete_after` seconds.
        self.complete_after = complete_after
        self.complete_status = complete_status
        self.send_callbacks = send_callbacks
        # State, kept across down()/up().
        self.sessions: dict[str, Session] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[dict] = []
        self.create_calls = 0
        self.max_open = 0
        # Creates being answered at once, and the most seen (a client's calls side by side).
        self.creating = self.max_creating = 0
        # Open sessions, and per org (the request's metadata.org): now, and the most at once.
        self._open: dict[str, Session] = {}
        self.open_by_org: dict[str, int] = {}
        self.max_open_by_org: dict[str, int] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._completer: threading.Thread | None = None
        self._connections: set = set()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> PlaneServer:
        self.up()
        if self.complete_after is not None and self._completer is None:
            self._completer = threading.Thread(target=self._complete_loop, name="plane-completer", daemon=True)
            self._completer.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        self.down()

    def down(self) -> None:
        """Close the listening socket and every open connection: calls meet 'connection refused'."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        with self.lock:
            open_connections, self._connections = list(self._connections), set()
        for sock in open_connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def up(self) -> None:
        if self._server is not None:
            return
        attrs = {"plane": self, **({"protocol_version": "HTTP/1.0"} if self.http10 else {})}
        handler = type("Handler", (_Handler,), attrs)
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Let held (delayed) answers go now."""
        self._release.set()

    # --- what tests look at ----------------------------------------------------------------

    @property
    def unique_sessions(self) -> int:
        with self.lock:
            return len(self.sessions)

    def open_sessions(self) -> int:
        with self.lock:
            return len(self._open)

    def session_for(self, job_run_id: str) -> Session | None:
        with self.lock:
            sid = self.by_key.get(job_run_id)
            return self.sessions.get(sid) if sid else None

    def stats(self) -> dict:
        with self.lock:
            by_status: dict[str, int] = {}
            for s in self.sessions.values():
                by_status[s.status] = by_status.get(s.status, 0) + 1
            return {
                "sessions": len(self.sessions),
                "create_calls": self.create_calls,
                "open": by_status.get("running", 0) + by_status.get("queued", 0),
                "max_open": self.max_open,
                "by_status": by_status,
                "cancels": sum(1 for s in self.sessions.values() if s.cancel_requested),
            }

    def write_sessions(self, path: str) -> None:
        """Every session started, as JSON: for a load test in another process to match with its runs."""
        mono_to_wall = time.time() - time.monotonic()
        with self.lock:
            sessions = [{"job_run_id": s.job_run_id, "started": s.started + mono_to_wall} for s in self.sessions.values()]
            body = {"sessions": sessions, "create_calls": self.create_calls}
        with open(path, "w") as out:
            json.dump(body, out)

    # --- finishing sessions ------------------------------------------------------------------

    def complete(self, session_id: str, status: str = "success", outputs: list | None = None, error: dict | None = None) -> dict:
        """Finish a session as the agent would; returns the callback body."""
        with self.lock:
            session = self.sessions[session_id]
            self._set_status(session, status)
            session.outputs = outputs if outputs is not None else _default_outputs(session)
            session.error = error if error is not None else ({"code": "agent_error", "message": "the agent failed"} if status == "failed" else None)
            return session.body()

    def callback_body(self, session_id: str) -> bytes:
        with self.lock:
            return json.dumps(self.sessions[session_id].body()).encode()

    def send_callback(self, session_id: str, *, client=None, url: str | None = None, body: bytes | None = None, signature: str | None = None):
        """POST the signed callback for a session to a Django test `client` or a live `url`."""
        body = body if body is not None else self.callback_body(session_id)
        signature = signature if signature is not None else sign(self.secret, body)
        if client is not None:
            return client.post(CALLBACK_PATH, data=body, content_type="application/json", HTTP_X_SIGNATURE=signature)
        target = url or self.sessions[session_id].request.get("callback_url")
        request = urllib.request.Request(
            target, data=body, method="POST", headers={"Content-Type": "application/json", "X-Signature": signature}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")

    def _complete_loop(self) -> None:
        while not self._stopping.wait(0.02):
            now = time.monotonic()
            with self.lock:
                due = [s.session_id for s in self._open.values() if now - s.started >= self.complete_after]
            for sid in due:
                self.complete(sid, self.complete_status)
                if self.send_callbacks:
                    try:
                        self.send_callback(sid)
                        self.sessions[sid].callback_sent = True
                    except Exception as exc:  # noqa: BLE001 - the poll will still find it
                        print(f"plane: callback for {sid} failed: {exc}", file=sys.stderr, flush=True)

    # --- the handler's work --------------------------------------------------------------------

    def _create(self, key: str, request: dict) -> tuple[int, dict]:
        with self.lock:
            self.create_calls += 1
            existing = self.by_key.get(key)
            if existing is not None:
                return 200, self._create_answer(self.sessions[existing])
            n = next(self._ids)
            metadata = request.get("metadata") or {}
            session = Session(
                session_id=f"sess-{n:06d}",
                message_id=f"msg-{n:06d}",
                job_run_id=metadata.get("job_run_id", key),
                request=request,
                started=time.monotonic(),
                org=str(metadata.get("org", "")),
            )
            self.sessions[session.session_id] = session
            self.by_key[key] = session.session_id
            self._open[session.session_id] = session
            in_org = self.open_by_org[session.org] = self.open_by_org.get(session.org, 0) + 1
            self.max_open_by_org[session.org] = max(self.max_open_by_org.get(session.org, 0), in_org)
            if self.on_session_start is not None:
                session.open_at_start = list(self._open.values())
            self.max_open = max(self.max_open, len(self._open))
        if self.on_session_start is not None:
            self.on_session_start(session)
        return 201, self._create_answer(session)

    def _set_status(self, session: Session, status: str) -> None:
        """Under the lock: a session's new status, and the open counts."""
        if session.status in ACTIVE and status not in ACTIVE:
            self._open.pop(session.session_id, None)
            self.open_by_org[session.org] -= 1
        session.status = status

    @staticmethod
    def _create_answer(session: Session) -> dict:
        return {"session_id": session.session_id, "message_id": session.message_id, "status": session.status}


def _default_outputs(session: Session) -> list:
    kind = session.request.get("output_type") or "markdown"
    return [{"type": kind, "name": f"result.{kind}", "url": f"https://files.plane.test/{session.session_id}/result.{kind}"}]


class _Handler(BaseHTTPRequestHandler):
    plane: PlaneServer
    # Keep-alive, so a client may reuse its connection; without Nagle, so the body written
    # after the headers is not held back 40 ms waiting for a delayed ACK.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.plane.lock:
            self.plane._connections.add(self.connection)

    def finish(self):
        with self.plane.lock:
            self.plane._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body, raw: bytes | None = None) -> None:
        plane = self.plane
        if plane.delay_seconds:
            plane._release.wait(plane.delay_seconds)
        data = raw if raw is not None else json.dumps(body).encode()
        if plane.drip_seconds:
            return self._drip(status, data)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (too slow): nothing to tell it

    def _drip(self, status: int, data: bytes) -> None:
        head = f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\nContent-Type: application/json\r\n"
        answer = head.encode() + f"Content-Length: {len(data)}\r\n\r\n".encode() + data
        self.plane.dripped_bytes, self.plane.drip_answer_bytes = 0, len(answer)
        try:
            for i in range(len(answer)):
                self.plane._release.wait(self.plane.drip_seconds)
                self.wfile.write(answer[i : i + 1])
                self.plane.dripped_bytes += 1
        except OSError:
            pass  # the client gave up: its deadline passed

    def _record(self, raw: bytes) -> None:
        signature = self.headers.get("X-Signature", "")
        with self.plane.lock:
            self.plane.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "authorization": self.headers.get("Authorization"),
                    "signature_ok": hmac.compare_digest(signature, sign(self.plane.secret, raw)),
                    "body": raw,
                }
            )

    def do_GET(self):
        self._record(b"")
        if self.path == "/stats":
            return self._answer(200, self.plane.stats())
        if self.plane.fail_with:
            return self._answer(self.plane.fail_with, {"error": "programmed failure"})
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "sessions":
            with self.plane.lock:
                session = self.plane.sessions.get(parts[1])
                body = session.body() if session else None
            if body is None:
                return self._answer(404, {"error": "no such session"})
            return self._answer(200, body)
        return self._answer(404, {"error": "not found"})

    def do_POST(self):
        raw = self._read()
        self._record(raw)
        plane = self.plane
        if plane.fail_with:
            return self._answer(plane.fail_with, {"error": "programmed failure"})
        parts = self.path.strip("/").split("/")
        if parts == ["sessions"]:
            key = self.headers.get("Idempotency-Key")
            if not key:
                return self._answer(400, {"error": "Idempotency-Key is required"})
            try:
                request = json.loads(raw)
            except ValueError:
                return self._answer(400, {"error": "body is not JSON"})
            if plane.malformed:
                raw = plane.malformed if isinstance(plane.malformed, bytes) else b"<html>surprise</html>"
                return self._answer(200, None, raw=raw)
            with plane.lock:
                plane.creating += 1
                plane.max_creating = max(plane.max_creating, plane.creating)
            try:
                status, body = plane._create(key, request)
                return self._answer(status, body)
            finally:
                with plane.lock:
                    plane.creating -= 1
        if len(parts) == 3 and parts[0] == "sessions" and parts[2] == "cancel":
            with plane.lock:
                session = plane.sessions.get(parts[1])
                if session is not None:
                    session.cancel_requested = True
                    if session.status in ACTIVE:
                        plane._set_status(session, "canceled")
                    body = session.body()
            if session is None:
                return self._answer(404, {"error": "no such session"})
            return self._answer(200, body)
        return self._answer(404, {"error": "not found"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default="plane-test-secret")
    parser.add_argument("--complete-after", type=float, default=None, help="finish sessions after this many seconds")
    parser.add_argument("--status", default="success", choices=["success", "failed", "canceled"])
    parser.add_argument("--callback", action="store_true", help="post the signed callback when a session finishes")
    parser.add_argument("--fail-with", type=int, default=None, help="answer every call with this HTTP status")
    parser.add_argument("--drip-seconds", type=float, default=0.0, help="send every answer a byte at a time, this far apart")
    parser.add_argument("--sessions-out", default=None, help="on exit, write the sessions (job run id, wall-clock start) here as JSON")
    args = parser.parse_args(argv)
    plane = PlaneServer(
        secret=args.secret,
        host=args.host,
        port=args.port,
        complete_after=args.complete_after,
        complete_status=args.status,
        send_callbacks=args.callback,
    )
    plane.fail_with = args.fail_with
    plane.drip_seconds = args.drip_seconds
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    plane.start()
    print(plane.port, flush=True)
    stop.wait()
    plane.stop()
    if args.sessions_out:
        plane.write_sessions(args.sessions_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

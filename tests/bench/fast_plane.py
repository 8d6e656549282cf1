"""A cheap keep-alive execution plane on loopback, in a process of its own, for the benchmarks.

Why it exists: `bench_lag.py` measures real `run_scheduler` processes at thousands of runs a
second. The reference plane, `tests/plane_server.PlaneServer` (`http.server`, a thread per
connection, in the bench's own process), costs 145-250 us of CPU per session created; at
3,000 runs/s that is about half of one of the machine's two cores, taken from the scheduler
and PostgreSQL it shares them with, so the bench measured its own plane as much as our
scheduler. A real plane runs on other machines. This one is an asyncio server on `uvloop`,
with `httptools` (uvicorn's event loop and C HTTP/1.1 parser), and costs 35-70 us (most of it
the kernel's loopback TCP); in its own process, its CPU reads separately (/proc) from the
bench's and the scheduler's.

What of the contract (docs/execution-plane.md) it implements, as PlaneServer does:

- `POST /sessions`: deduplicated by `Idempotency-Key` (required: 400 without it); the first
  call answers `201` and starts a session, a repeat of the key answers `200` with the same
  body, `{"session_id", "message_id", "status"}`; a body that is not JSON is a 400;
- `GET /sessions/{id}` answers the callback body (404 for an unknown id);
  `POST /sessions/{id}/cancel` cancels it (200 with the body; 404 when unknown);
- with a secret, every call must carry `X-Signature: sha256=<HMAC of the raw body>`: a
  missing or wrong one is answered `401` and changes nothing;
- HTTP/1.1 keep-alive (pipelined requests are answered in order), `Connection: close` when
  the client asks for it or speaks HTTP/1.0 without keep-alive;
- `--complete-after S`: sessions finish (`success`, or `--status`) S seconds after they start,
  found by polling (no callbacks are sent).

Not part of the contract, unsigned, for the bench to read while the plane runs:

- `GET /stats`: session counts (`sessions`, `create_calls`, `open`, `max_open`, `by_status`,
  `cancels`, `max_open_in_one_org`: the most sessions open at once in any one org, by
  `metadata.org`);
- `GET /stats/sessions?from=N`: the sessions after the first N (in creation order), each
  `[job_run_id, org, created_wall, created_monotonic]`: the plane's own time stamp of the
  creation, which the bench's "plane call accepted" lag is read from. Wall times are the
  monotonic stamps plus one offset taken at start, so a clock step mid-case cannot skew them.

The programmable faults (slow, dripping, failing, malformed answers) stay PlaneServer's: the
tests use that one. Run it standalone (prints the port, serves until SIGTERM/SIGINT):

    python -m tests.bench.fast_plane --port 0 --secret s3cret [--complete-after 0.3]

`FastPlane.start(...)` does that from a benchmark (with `--exit-with-stdin`: the plane stops
when the benchmark is gone, killed or not) and reads it over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httptools

from tests.plane_server import ACTIVE, sign

ROOT = Path(__file__).resolve().parents[2]
REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found",
           500: b"Internal Server Error"}


class Session:
    __slots__ = ("n", "session_id", "message_id", "job_run_id", "org", "output_type", "created", "status", "answer")

    def __init__(self, n: int, job_run_id: str, org: str, output_type: str, created: float):
        self.n = n
        self.session_id = f"sess-{n:06d}"
        self.message_id = f"msg-{n:06d}"
        self.job_run_id = job_run_id
        self.org = org
        self.output_type = output_type
        self.created = created
        self.status = "running"
        self.answer = b""  # the create answer, kept encoded: a repeated key gets the same bytes

    def body(self) -> dict:
        done = self.status == "success"
        kind = self.output_type
        outputs = [{"type": kind, "name": f"result.{kind}", "url": f"https://files.plane.test/{self.session_id}/result.{kind}"}]
        out = {"job_run_id": self.job_run_id, "session_id": self.session_id, "message_id": self.message_id,
               "status": self.status, "outputs": outputs if done else []}
        if self.status == "failed":
            out["error"] = {"code": "agent_error", "message": "the agent failed"}
        return out


class Plane:
    """The sessions and the answers; one event loop thread, so no locks."""

    def __init__(self, *, secret: str = "", complete_after: float | None = None, complete_status: str = "success"):
        self.secret = secret
        self.complete_after = complete_after
        self.complete_status = complete_status
        self.sessions: list[Session] = []
        self.by_id: dict[str, Session] = {}
        self.by_key: dict[str, Session] = {}
        self.create_calls = 0
        self.cancels = 0
        # Kept as they change: /stats is polled while thousands of sessions are open.
        self.by_status: dict[str, int] = {}
        self.open = 0
        self.max_open = 0
        self.open_by_org: dict[str, int] = {}
        self.max_open_in_one_org = 0
        self.mono_to_wall = time.time() - time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None

    def handle(self, method: bytes, url: bytes, key: str | None, signature: str, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(url.decode("latin-1"))
        path = parts.path.strip("/").split("/")
        if path[0] == "stats":
            return self._stats(path, parts.query)
        if self.secret and not hmac.compare_digest(signature.strip().lower().encode(), sign(self.secret, body).encode()):
            return 401, b'{"error": "missing or wrong X-Signature"}'
        if method == b"POST" and path == ["sessions"]:
            return self._create(key, body)
        if len(path) >= 2 and path[0] == "sessions" and (session := self.by_id.get(path[1])) is not None:
            if method == b"GET" and len(path) == 2:
                return 200, json.dumps(session.body()).encode()
            if method == b"POST" and path[2:] == ["cancel"]:
                self.cancels += 1
                if session.status in ACTIVE:
                    self._set_status(session, "canceled")
                return 200, json.dumps(session.body()).encode()
        return 404, b'{"error": "not found"}'

    def _create(self, key: str | None, body: bytes) -> tuple[int, bytes]:
        self.create_calls += 1
        if not key:
            return 400, b'{"error": "Idempotency-Key is required"}'
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return 400, b'{"error": "body is not a JSON object"}'
        session = self.by_key.get(key)
        if session is not None:
            return 200, session.answer
        metadata = request.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        org = str(metadata.get("org", ""))
        session = Session(len(self.sessions) + 1, str(metadata.get("job_run_id", key)), org,
                          str(request.get("output_type") or "markdown"), time.monotonic())
        answer = {"session_id": session.session_id, "message_id": session.message_id, "status": session.status}
        session.answer = json.dumps(answer).encode()
        self.sessions.append(session)
        self.by_key[key] = self.by_id[session.session_id] = session
        self.by_status["running"] = self.by_status.get("running", 0) + 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        in_org = self.open_by_org[org] = self.open_by_org.get(org, 0) + 1
        self.max_open_in_one_org = max(self.max_open_in_one_org, in_org)
        if self.complete_after is not None:
            self.loop.call_later(self.complete_after, self._finish, session)
        return 201, session.answer

    def _finish(self, session: Session) -> None:
        if session.status in ACTIVE:
            self._set_status(session, self.complete_status)

    def _set_status(self, session: Session, status: str) -> None:
        self.by_status[session.status] -= 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if session.status in ACTIVE and status not in ACTIVE:
            self.open -= 1
            self.open_by_org[session.org] -= 1
        session.status = status

    def _stats(self, path: list[str], query: str) -> tuple[int, bytes]:
        if path == ["stats"]:
            return 200, json.dumps({
                "sessions": len(self.sessions), "create_calls": self.create_calls, "open": self.open,
                "max_open": self.max_open, "by_status": {k: v for k, v in self.by_status.items() if v},
                "cancels": self.cancels, "max_open_in_one_org": self.max_open_in_one_org,
            }).encode()
        if path == ["stats", "sessions"]:
            start = int(parse_qs(query).get("from", ["0"])[0])
            offset = self.mono_to_wall
            rows = [[s.job_run_id, s.org, s.created + offset, s.created] for s in self.sessions[start:]]
            return 200, json.dumps({"sessions": rows}).encode()
        return 404, b'{"error": "not found"}'


class _Connection(asyncio.Protocol):
    """One client connection: httptools parses, the plane answers each request in order."""

    def __init__(self, plane: Plane):
        self.plane = plane
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.key = None
        self.signature = ""
        self.body: list[bytes] = []

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # A bug here, not a bad request: a 4xx would fail the scheduler's run for good.
            traceback.print_exception(exc.__context__ or exc)
            self._write(500, b'{"error": "plane error"}', keep_alive=False)
        except httptools.HttpParserError:
            self._write(400, b'{"error": "bad request"}', keep_alive=False)

    # httptools' callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"idempotency-key":
            self.key = value.decode("latin-1")
        elif name == b"x-signature":
            self.signature = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, answer = self.plane.handle(self.parser.get_method(), self.url, self.key, self.signature, b"".join(self.body))
        self._reset()
        self._write(status, answer, keep_alive=self.parser.should_keep_alive())

    def _write(self, status: int, body: bytes, *, keep_alive: bool) -> None:
        if self.transport.is_closing():
            return
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            status, REASONS[status], len(body))
        self.transport.write(head + (b"\r\n" if keep_alive else b"Connection: close\r\n\r\n") + body)
        if not keep_alive:
            self.transport.close()


async def serve(plane: Plane, host: str, port: int, stop: asyncio.Event, ready=None) -> None:
    plane.loop = asyncio.get_running_loop()
    server = await plane.loop.create_server(lambda: _Connection(plane), host, port, backlog=1024)
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await stop.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default="", help="check every call's X-Signature with this secret")
    parser.add_argument("--complete-after", type=float, default=None, help="finish sessions after this many seconds")
    parser.add_argument("--status", default="success", choices=["success", "failed", "canceled"])
    parser.add_argument("--exit-with-stdin", action="store_true", help="stop when standard input closes (the parent is gone)")
    args = parser.parse_args(argv)
    plane = Plane(secret=args.secret, complete_after=args.complete_after, complete_status=args.status)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.exit_with_stdin:
            # A benchmark killed before its `finally` leaves no plane serving behind it.
            loop.add_reader(0, lambda: os.read(0, 4096) or stop.set())
        await serve(plane, args.host, args.port, stop, ready=lambda port: print(port, flush=True))

    try:
        import uvloop  # a third less CPU per call than asyncio's own loop (35 vs 53 us)
    except ImportError:  # not built for Windows
        asyncio.run(run())
    else:
        uvloop.run(run())
    return 0


class FastPlane:
    """The fast plane in a process of its own, as a benchmark starts and reads it."""

    def __init__(self, proc: subprocess.Popen, port: int, secret: str):
        self.proc = proc
        self.port = port
        self.secret = secret
        self.url = f"http://127.0.0.1:{port}"
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def start(cls, *, secret: str = "", complete_after: float | None = None) -> FastPlane:
        cmd = [sys.executable, "-m", "tests.bench.fast_plane", "--port", "0", "--secret", secret]
        if complete_after is not None:
            cmd += ["--complete-after", str(complete_after)]
        cmd.append("--exit-with-stdin")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.kill()
            raise RuntimeError(f"the fast plane did not start (exit {proc.wait()})")
        return cls(proc, int(line), secret)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if not pipe.closed:
                pipe.close()

    def _get(self, path: str) -> dict:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                return json.loads(response.read())
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stats(self) -> dict:
        return self._get("/stats")

    @property
    def unique_sessions(self) -> int:
        return self.stats()["sessions"]

    def started(self, after: int = 0) -> dict[str, float]:
        """{job_run_id: wall-clock time the plane created its session} of the sessions after
        the first `after`."""
        return {job_run_id: wall for job_run_id, _org, wall, _mono in self._get(f"/stats/sessions?from={after}")["sessions"]}


if __name__ == "__main__":
    sys.exit(main())

"""The execution-plane contract as a WSGI app, for gunicorn's sync workers (`Connection:
close` on every answer, several worker processes sharing one SQLite file).

    PLANE_DB=/tmp/plane.sqlite3 gunicorn -w 2 -k sync -b 127.0.0.1:8765 tests.faults.wsgi_plane:app

Sessions are deduplicated by `Idempotency-Key` (a UNIQUE column). `sessions(path)` and
`complete(path, session_id)` are what a test reads and does, as the agent would. Standard
library only.
"""

from __future__ import annotations

import json
import os
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL,
    job_run_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    cancel_requested INTEGER NOT NULL DEFAULT 0
)
"""


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    return db


def _body(row) -> dict:
    n, key, job_run_id, status = row[:4]
    outputs = [{"type": "markdown", "name": "result.md", "url": f"https://files.plane.test/sess-{n:06d}/result.md"}]
    return {
        "job_run_id": job_run_id, "session_id": f"sess-{n:06d}", "message_id": f"msg-{n:06d}", "status": status,
        "outputs": outputs if status == "success" else [],
    }


def sessions(path: str) -> list[dict]:
    with connect(path) as db:
        return [_body(row) for row in db.execute("SELECT n, key, job_run_id, status FROM sessions ORDER BY n")]


def complete(path: str, session_id: str, status: str = "success") -> bytes:
    """Finish a session; returns the callback body."""
    n = int(session_id.split("-")[1])
    with connect(path) as db:
        db.execute("UPDATE sessions SET status = ? WHERE n = ? AND status IN ('queued', 'running')", (status, n))
        row = db.execute("SELECT n, key, job_run_id, status FROM sessions WHERE n = ?", (n,)).fetchone()
    return json.dumps(_body(row)).encode()


def app(environ, start_response):
    db = connect(os.environ["PLANE_DB"])
    try:
        status, body = _route(db, environ)
    finally:
        db.close()
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _route(db, environ):
    method, parts = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "").strip("/").split("/")
    if method == "POST" and parts == ["sessions"]:
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if not key:
            return "400 Bad Request", {"error": "Idempotency-Key is required"}
        job_run_id = (request.get("metadata") or {}).get("job_run_id", key)
        cursor = db.execute("INSERT OR IGNORE INTO sessions (key, job_run_id) VALUES (?, ?)", (key, job_run_id))
        row = db.execute("SELECT n, key, job_run_id, status FROM sessions WHERE key = ?", (key,)).fetchone()
        body = _body(row)
        return ("201 Created" if cursor.rowcount else "200 OK"), {k: body[k] for k in ("session_id", "message_id", "status")}
    if len(parts) >= 2 and parts[0] == "sessions":
        n = int(parts[1].split("-")[1]) if parts[1].startswith("sess-") else -1
        if method == "POST" and parts[2:] == ["cancel"]:
            db.execute(
                "UPDATE sessions SET cancel_requested = 1, status = CASE WHEN status IN ('queued', 'running') "
                "THEN 'canceled' ELSE status END WHERE n = ?", (n,)
            )
        row = db.execute("SELECT n, key, job_run_id, status FROM sessions WHERE n = ?", (n,)).fetchone()
        if row is None:
            return "404 Not Found", {"error": "no such session"}
        return "200 OK", _body(row)
    return "404 Not Found", {"error": "not found"}

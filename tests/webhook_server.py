"""A real webhook receiver on loopback (like tests/plane_server.py, not a mock).

`WebhookServer()` listens on 127.0.0.1 on a free port in a thread and records every POST
(path, headers, body). `answers` is a list of status codes to reply, in order (the last one
repeats; default 200). Clear `hold` to keep every answer back until it is set again (a slow
receiver).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


class WebhookServer:
    def __init__(self, answers: list[int] | None = None):
        self.answers = list(answers or [200])
        self.received: list[Received] = []
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                server.hold.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

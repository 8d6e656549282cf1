"""gunicorn settings for the web process: `gunicorn -c gunicorn.conf.py config.wsgi`.

Every value can be changed from the environment (the GUNICORN_* names below); docs/deploy.md
says how to size them. The access log is one JSON line per request through structlog, with
the request id the app gave the response (`X-Request-ID`).
"""

from __future__ import annotations

import os

import structlog
from gunicorn.glogging import Logger


def _cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), not the machine's.
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")
# Requests are mostly Python work under the GIL: one process per CPU, plus one to use the CPU
# while another waits on PostgreSQL. Threads cover the database and network waits inside a
# process. Each thread holds one database connection (docs/deploy.md, "Connections").
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", _cpus() + 1))
threads = _int("GUNICORN_THREADS", 4)
# A worker that does not report for this long is killed and replaced (a stuck request).
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, requests in flight get this long to finish before the worker is killed; keep it
# below the orchestrator's own grace period (Kubernetes terminationGracePeriodSeconds).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Longer than a load balancer keeps an idle connection would cut it mid-request; shorter than
# its idle timeout avoids the 502 a proxy gets when it reuses a connection gunicorn closed.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then, so a slow leak cannot grow without bound; jitter keeps them
# from restarting all at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500)
# The heartbeat file on tmpfs: on a disk-backed /tmp a slow disk can get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# X-Forwarded-Proto/For are believed from these addresses only (the proxy in front).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "agent-schedules-web"
# gunicorn 25.1+ opens a control socket at one fixed path per user (~/.gunicorn/gunicorn.ctl):
# a second server on the host (two `make serve`, a load test) would take it over. Unused here;
# older gunicorn ignores the setting.
control_socket_disable = True

# The access log is written by JsonAccessLogger below (to the root logger Django's settings set
# up, stderr), not by gunicorn's own access handler; its error log becomes JSON lines too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Probes call these every few seconds: a line per probe would bury the real traffic. A failing
# probe (any status but 200) is still logged.
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


class JsonAccessLogger(Logger):
    """gunicorn's logger with one structlog JSON line per request instead of the Apache line."""

    def setup(self, cfg):
        super().setup(cfg)
        from config.logging import json_formatter

        for handler in self.error_log.handlers:
            handler.setFormatter(json_formatter())

    def access(self, resp, req, environ, request_time):
        status = int(str(resp.status).split(None, 1)[0]) if resp.status else 0
        if req.path in QUIET_PATHS and status == 200:
            return
        headers = {name.lower(): value for name, value in (resp.headers or [])}
        log = structlog.get_logger("web.access")
        # The id comes from the response, not the thread's context: a request that never
        # reached the app (a static file, an error) must not carry the previous request's id.
        structlog.contextvars.clear_contextvars()
        log.info(
            "http.request",
            request_id=headers.get("x-request-id"),
            method=req.method,
            path=req.path,
            status=status,
            bytes=getattr(resp, "sent", None),
            duration_ms=round(request_time.total_seconds() * 1000, 1),
            remote_addr=environ.get("REMOTE_ADDR"),
            user_agent=environ.get("HTTP_USER_AGENT", "")[:200],
        )


logger_class = JsonAccessLogger


def on_starting(server):
    server.log.info("gunicorn starting: %s workers x %s threads on %s", workers, threads, bind)


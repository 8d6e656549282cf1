"""The embedded execution plane: each agent is a subprocess named in `settings.LOCAL_AGENTS`.

The payload JSON goes to the process's stdin; everything it writes to stdout is the result,
stored as one output `{type: <output_type>, name: "result.<ext>", url: "data:<mime>;base64,..."}`
(a data URL, so the run log can show or download it without any file store); exit status 0
is success, anything else a failure with the tail of stderr as the message. The process is
killed (its whole process group) at the schedule's `timeout_seconds`.

Synchronous: `start` runs the whole session in the dispatcher's worker thread and returns
the final result. Only settings name commands; nothing from the API or the pages can.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading

from django.conf import settings

from runs.plane.base import ErrorCode, PlaneError, PlaneResult, PlaneStatus, StartResult, session_request

# Stored in the database as a data URL: keep it bounded.
MAX_OUTPUT_BYTES = 1 << 20
STDERR_TAIL = 2000
# The agent gets these from our environment and nothing else: DATABASE_URL, SECRET_KEY and
# EXECUTION_PLANE_SECRET must not leak into a process that runs arbitrary prompts.
ENV_ALLOWLIST = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONIOENCODING")

OUTPUT_FORMATS = {
    "text": ("txt", "text/plain"),
    "markdown": ("md", "text/markdown"),
    "json": ("json", "application/json"),
    "csv": ("csv", "text/csv"),
    "pdf": ("pdf", "application/pdf"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
}


def output_for(output_type: str, data: bytes) -> list[dict]:
    """The run's outputs for what the agent wrote to stdout (none for output_type `none`)."""
    if output_type == "none" or not data:
        return []
    ext, mime = OUTPUT_FORMATS.get(output_type, ("bin", "application/octet-stream"))
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return [{"type": output_type, "name": f"result.{ext}", "url": url}]


class LocalPlaneClient:
    synchronous = True

    # Sessions running in this process, so that cancel() can stop one.
    _running: dict[str, subprocess.Popen] = {}
    _lock = threading.Lock()

    def __init__(self, *, agents: dict | None = None):
        self.agents = agents if agents is not None else settings.LOCAL_AGENTS

    def start(self, run, *, on_started=None) -> StartResult:
        argv = self.agents.get(run.agent_slug)
        if not argv:
            raise PlaneError(
                ErrorCode.AGENT_NOT_CONFIGURED,
                f"agent '{run.agent_slug}' has no command in LOCAL_AGENTS (configured: {', '.join(sorted(self.agents)) or 'none'})",
            )
        timeout = run.schedule.timeout_seconds
        payload = json.dumps(session_request(run)).encode()
        env = {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ}
        env["AGENT_JOB_RUN_ID"] = run.job_run_id
        try:
            # A new session (process group), so the timeout kills the agent's children too.
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise PlaneError(ErrorCode.AGENT_START_FAILED, f"cannot run {argv[0]!r}: {exc}") from None
        session_id = f"local-{proc.pid}-{run.job_run_id[-12:]}"
        with self._lock:
            self._running[session_id] = proc
        try:
            if on_started is not None:
                try:
                    on_started(session_id)
                except BaseException:
                    # Not recorded as running: the agent must not go on unseen.
                    _kill(proc)
                    proc.communicate()
                    raise
            try:
                out, err = proc.communicate(payload, timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                proc.communicate()
                return StartResult(
                    session_id=session_id,
                    status=PlaneStatus.TIMEOUT,
                    result=PlaneResult(
                        status=PlaneStatus.TIMEOUT,
                        session_id=session_id,
                        error_code=ErrorCode.RUN_TIMEOUT,
                        error_message=f"the agent was still running after {timeout} s and was killed",
                    ),
                )
        finally:
            with self._lock:
                self._running.pop(session_id, None)
        return StartResult(session_id=session_id, status=_status(proc.returncode), result=_result(run, session_id, proc.returncode, out, err))

    def poll(self, run) -> PlaneResult:
        # Never called for a synchronous plane: the worker thread reports the result itself.
        return PlaneResult(status=PlaneStatus.RUNNING, session_id=run.session_id)

    def cancel(self, run) -> None:
        with self._lock:
            proc = self._running.get(run.session_id)
        if proc is not None:
            _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _status(returncode: int) -> str:
    return PlaneStatus.SUCCESS if returncode == 0 else PlaneStatus.FAILED


def _result(run, session_id: str, returncode: int, out: bytes, err: bytes) -> PlaneResult:
    tail = err[-STDERR_TAIL:].decode("utf-8", "replace").strip()
    if returncode != 0:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
        return PlaneResult(
            status=PlaneStatus.FAILED,
            session_id=session_id,
            error_code=ErrorCode.AGENT_FAILED,
            error_message=f"the agent ended with {how}" + (f": {tail}" if tail else ""),
        )
    if len(out) > MAX_OUTPUT_BYTES:
        return PlaneResult(
            status=PlaneStatus.FAILED,
            session_id=session_id,
            error_code=ErrorCode.AGENT_OUTPUT_TOO_LARGE,
            error_message=f"the agent wrote {len(out)} bytes; the local plane keeps at most {MAX_OUTPUT_BYTES}",
        )
    return PlaneResult(status=PlaneStatus.SUCCESS, session_id=session_id, outputs=output_for(run.output_type, out))

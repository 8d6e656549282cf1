"""The embedded execution plane: each agent is a subprocess named in `settings.LOCAL_AGENTS`.

For development and demos, **not a sandbox**: an agent runs with the scheduler's rights (or
`LOCAL_AGENTS_RUN_AS`'s) and can read what that user can. What it does get:

- the payload JSON on stdin; everything it writes to stdout is the result, stored as one
  output `{type: <output_type>, name: "result.<ext>", url: "data:<mime>;base64,..."}` (a data
  URL, so the run log can show or download it without any file store), read up to
  `LOCAL_AGENT_MAX_OUTPUT_BYTES`: one byte more kills it (`agent_output_too_large`, not retried);
- exit status 0 is success, anything else a failure with the tail of stderr as the message;
- a fresh, empty working directory, removed when the run ends (not the project folder, where
  `db.sqlite3` and `.env` live), and only allow-listed environment variables;
- its whole process group is killed at the schedule's `timeout_seconds`, and when it ends.

The scheduler makes itself non-dumpable (`protect_from_agents`), so a same-user agent cannot
read the scheduler's `/proc/<pid>/environ` (SECRET_KEY, DATABASE_URL, EXECUTION_PLANE_SECRET).

Synchronous: `start` runs the whole session in the dispatcher's worker thread and returns
the final result. Only settings name commands; nothing from the API or the pages can.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import pwd
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace

import structlog
from django.conf import settings

from runs.models import RunErrorCode
from runs.plane.base import (
    MAX_ANSWER,
    PlaneError,
    PlaneResult,
    PlaneStatus,
    StartResult,
    session_request,
    usage_from_body,
)

log = structlog.get_logger("runs.plane.local")

STDERR_TAIL = 2000
READ_CHUNK = 1 << 16
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)
# The agent gets these from our environment and nothing else: DATABASE_URL, SECRET_KEY and
# EXECUTION_PLANE_SECRET must not leak into a process that runs arbitrary prompts.
ENV_ALLOWLIST = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONIOENCODING")
PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def protect_from_agents() -> bool:
    """Make this process non-dumpable (Linux `prctl(PR_SET_DUMPABLE, 0)`); True when it took.

    Processes of the same user, local agents included, can then neither read this process's
    `/proc/<pid>/environ` and `mem` nor ptrace it. (Root, or a holder of CAP_SYS_PTRACE, still
    can: run the scheduler as an ordinary user, or agents as another with LOCAL_AGENTS_RUN_AS.)
    Costs core dumps of the scheduler and same-user debuggers (py-spy needs root then).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    except (OSError, AttributeError) as exc:
        log.warning("process.still_dumpable", error=str(exc))
        return False
    return True


@dataclass(frozen=True)
class RunAs:
    """The user agents run as (LOCAL_AGENTS_RUN_AS): Popen's user/group, and its home."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def named(cls, name: str) -> RunAs | None:
        if not name:
            return None
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ValueError(f"LOCAL_AGENTS_RUN_AS names no user on this machine: {name!r}") from None
        return cls(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)

    def popen_kwargs(self) -> dict:
        # extra_groups=[]: without it the child keeps the scheduler's supplementary groups.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


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
    return [{"type": output_type, "name": f"result.{ext}", "url": url, "size_bytes": len(data), "content_type": mime}]


# Where an agent may report what it used: a JSON object written to this file in its working
# directory, e.g. {"input_tokens": 1200, "output_tokens": 350, "cost_usd": 0.0042}
# (docs/execution-plane.md, "Usage"). Its path is in the agent's AGENT_USAGE_FILE.
USAGE_FILE = "agent-usage.json"
USAGE_FILE_MAX = 4096


def usage_in(workdir: str) -> tuple[dict | None, str]:
    """(the run's usage columns, "") from the agent's usage file; (None, why) when it is unusable."""
    path = os.path.join(workdir, USAGE_FILE)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(USAGE_FILE_MAX + 1)
    except OSError:
        return None, ""  # none written: nothing reported
    if len(raw) > USAGE_FILE_MAX:
        return None, f"{USAGE_FILE} is larger than {USAGE_FILE_MAX} bytes"
    try:
        return usage_from_body(json.loads(raw)), ""
    except (ValueError, PlaneError) as exc:
        return None, f"{USAGE_FILE} is not usage: {getattr(exc, 'message', exc)}"


# Output types whose bytes are text a person reads: kept on the run as its answer too.
TEXT_OUTPUT_TYPES = ("text", "markdown", "json", "csv")


def answer_for(output_type: str, data: bytes) -> str:
    """The agent's answer as text, for the text-like output types (the rest are files)."""
    if output_type not in TEXT_OUTPUT_TYPES:
        return ""
    return data[:MAX_ANSWER].decode("utf-8", "replace")


class LocalPlaneClient:
    synchronous = True

    # Sessions running in this process, so that cancel() can stop one.
    _running: dict[str, subprocess.Popen] = {}
    _lock = threading.Lock()

    def __init__(self, *, agents: dict | None = None, run_as: str | None = None, max_output: int | None = None):
        self.agents = agents if agents is not None else settings.LOCAL_AGENTS
        self.run_as_name = settings.LOCAL_AGENTS_RUN_AS if run_as is None else run_as
        self.max_output = settings.LOCAL_AGENT_MAX_OUTPUT_BYTES if max_output is None else max_output

    def start(self, run, *, on_started=None, timeout=None) -> StartResult:
        # `timeout` bounds a plane *call*; here the call is the run, bounded by the schedule's.
        argv = self.agents.get(run.agent_slug)
        if not argv:
            # The org reads the run's error: it learns nothing of what else this host runs.
            log.warning("local_plane.agent_not_configured", agent=run.agent_slug, configured=sorted(self.agents))
            raise PlaneError(
                RunErrorCode.AGENT_NOT_CONFIGURED,
                f"agent '{run.agent_slug}' is not configured on this execution plane; ask the operator to add it",
            )
        workdir = tempfile.mkdtemp(prefix="agent-run-")
        try:
            return self._run(run, list(argv), workdir, on_started)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self, run, argv: list, workdir: str, on_started) -> StartResult:
        env = {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ}
        env["AGENT_JOB_RUN_ID"] = run.job_run_id
        env["AGENT_USAGE_FILE"] = os.path.join(workdir, USAGE_FILE)
        extra = {}
        try:
            run_as = RunAs.named(self.run_as_name)
            if run_as is not None:
                os.chown(workdir, run_as.uid, run_as.gid)
                env["HOME"] = run_as.home
                extra = run_as.popen_kwargs()
            # A new session (process group), so the timeout kills the agent's children too.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=workdir,
                start_new_session=True,
                **extra,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            # The command line and the reason are the operator's; the org gets a plain sentence.
            log.error("local_plane.agent_start_failed", agent=run.agent_slug, argv0=argv[0], run_as=self.run_as_name, error=str(exc))
            raise PlaneError(
                RunErrorCode.AGENT_START_FAILED,
                f"agent '{run.agent_slug}' could not be started on this execution plane; the operator's log says why",
            ) from None
        session_id = f"local-{proc.pid}-{run.job_run_id[-12:]}"
        with self._lock:
            self._running[session_id] = proc
        try:
            if on_started is not None:
                # When this raises (not recorded as running), the agent must not go on unseen:
                # it is stopped below before it got its payload.
                on_started(session_id)
            timeout = run.schedule.timeout_seconds
            out, err, ended = _talk(proc, json.dumps(session_request(run)).encode(), timeout=timeout, max_output=self.max_output)
        finally:
            _stop(proc)
            with self._lock:
                self._running.pop(session_id, None)
        if ended == _TIMEOUT:
            message = f"the agent was still running after {timeout} s and was killed"
            return _failed(session_id, PlaneStatus.TIMEOUT, RunErrorCode.TIMEOUT, message)
        if ended == _OVERFLOW:
            log.warning("local_plane.output_too_large", agent=run.agent_slug, job_run_id=run.job_run_id, limit=self.max_output)
            message = (
                f"the agent wrote more than {self.max_output:,} bytes of output, the most this execution plane keeps, "
                "and was stopped; make its output smaller (this is not retried)"
            )
            return _failed(session_id, PlaneStatus.FAILED, RunErrorCode.AGENT_OUTPUT_TOO_LARGE, message)
        result = _result(run, session_id, proc.returncode, bytes(out), bytes(err))
        usage, problem = usage_in(workdir)
        if problem:
            log.warning("local_plane.bad_usage_file", agent=run.agent_slug, job_run_id=run.job_run_id, problem=problem)
        result = replace(result, usage=usage)
        return StartResult(session_id=session_id, status=result.status, result=result)

    def poll(self, run) -> PlaneResult:
        # Never called for a synchronous plane: the worker thread reports the result itself.
        return PlaneResult(status=PlaneStatus.RUNNING, session_id=run.session_id)

    def cancel(self, run) -> None:
        with self._lock:
            proc = self._running.get(run.session_id)
        if proc is not None:
            _kill(proc)


_DONE, _TIMEOUT, _OVERFLOW = "done", "timeout", "overflow"


def _talk(proc: subprocess.Popen, payload: bytes, *, timeout: float, max_output: int) -> tuple[bytearray, bytearray, str]:
    """Write the payload, read stdout (at most `max_output` + a chunk) and stderr's tail, wait.

    Returns (stdout, stderr tail, how it ended). `communicate()` would hold everything the
    agent writes in memory: 300 MB of output took the scheduler to 658 MB before it failed.
    """
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    pending = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        if pending:
            selector.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return out, err, _TIMEOUT
            for key, _ in selector.select(left):
                pipe = key.fileobj
                if pipe is proc.stdin:
                    try:
                        # At most PIPE_BUF: what a pipe reported writable takes without blocking.
                        pending = pending[os.write(pipe.fileno(), pending[:_PIPE_BUF]) :]
                    except BrokenPipeError:
                        pending = pending[:0]  # it stopped reading: its answer still counts
                    if not pending:
                        selector.unregister(pipe)
                        pipe.close()
                    continue
                chunk = os.read(pipe.fileno(), READ_CHUNK)
                if not chunk:
                    selector.unregister(pipe)
                    pipe.close()
                elif pipe is proc.stdout:
                    out += chunk
                    if len(out) > max_output:
                        return out, err, _OVERFLOW
                else:
                    err += chunk
                    del err[:-STDERR_TAIL]
    return out, err, _DONE if _exited(proc, deadline) else _TIMEOUT


def _exited(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait until the agent has exited, without reaping it (see _stop); False at the deadline."""
    delay = 0.0005
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))  # as Popen.wait(timeout) does: no event to wait on
        delay = min(delay * 2, 0.05)
    return True


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    """Kill what is left of the agent's process group, close our pipe ends, reap it.

    Also after a normal exit: a background child the agent left behind must not outlive the
    run (nor keep writing in its working directory, which is being removed). The agent is not
    reaped before this kill, so its process group id cannot have been reused by a stranger.
    """
    _kill(proc)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            try:
                pipe.close()
            except OSError:
                pass
    proc.wait()


def _failed(session_id: str, status: str, code: str, message: str) -> StartResult:
    result = PlaneResult(status=status, session_id=session_id, error_code=code, error_message=message)
    return StartResult(session_id=session_id, status=status, result=result)


def _result(run, session_id: str, returncode: int, out: bytes, err: bytes) -> PlaneResult:
    tail = err[-STDERR_TAIL:].decode("utf-8", "replace").strip()
    if returncode != 0:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
        return PlaneResult(
            status=PlaneStatus.FAILED,
            session_id=session_id,
            error_code=RunErrorCode.AGENT_FAILED,
            error_message=f"the agent ended with {how}" + (f": {tail}" if tail else ""),
        )
    return PlaneResult(
        status=PlaneStatus.SUCCESS,
        session_id=session_id,
        outputs=output_for(run.output_type, out),
        answer=answer_for(run.output_type, out),
    )

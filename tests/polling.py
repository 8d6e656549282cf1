"""Waiting for another thread's or process's write: poll with a deadline, never a fixed sleep.

Single-process scheduler tests move a FakeClock instead; this is for what runs beside the
test (dispatcher threads, the loopback plane's handlers, `run_scheduler` subprocesses).
"""

from __future__ import annotations

import time


def wait_until(condition, *, deadline: float = 10.0, what: str = "condition", procs=(), interval: float = 0.02):
    """Poll `condition()` until it is truthy and return its value; fail after `deadline`
    seconds, or as soon as one of `procs` (objects with poll(), name, returncode, output())
    has exited."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.name} exited with {proc.returncode} while waiting for {what}:\n{proc.output()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(interval)  # polling until the deadline


class LoggedProcess:
    """A subprocess writing to a log file, as `wait_until(procs=...)` expects: subclasses set
    `name`, `proc` (a Popen), `log_path` and `_log` (the open file)."""

    def poll(self):
        return self.proc.poll()

    @property
    def returncode(self):
        return self.proc.returncode

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def output(self) -> str:
        return self.log_text()[-4000:]

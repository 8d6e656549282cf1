"""run_scheduler's SIGTERM/SIGINT handling (runs/management/commands/run_scheduler.py)."""

from __future__ import annotations

import signal
import threading

from runs.management.commands.run_scheduler import StopSignals
from tests import polling


def test_a_stop_signal_landing_while_the_loop_holds_its_wake_lock_still_stops_it():
    # A handler runs in the main thread between any two bytecodes, e.g. while the loop is
    # inside `_wake.clear()` holding the Event's lock, or while an earlier handler sets `stop`.
    # A handler that set the Events itself waited there for good: the scheduler never exited.
    stop, wake = threading.Event(), threading.Event()
    signals = StopSignals(on_stop=lambda: (stop.set(), wake.set()))

    def loop_holding_its_locks():
        with wake._cond, stop._cond:
            signals.handler(signal.SIGINT, None)
            signals.handler(signal.SIGTERM, None)  # Ctrl-C, then make serve's own SIGTERM

    loop = threading.Thread(target=loop_holding_its_locks, daemon=True)
    loop.start()
    loop.join(5)
    assert not loop.is_alive(), "the signal handler blocked the thread it interrupted"
    polling.wait_until(lambda: stop.is_set() and wake.is_set(), what="the stop request")

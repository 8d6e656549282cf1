"""`manage.py run_scheduler`: the scheduler as its own long-lived process.

Thin on purpose: options, signal handlers, build the Scheduler, run it. The loop and its
steps live in `runs.scheduler`.
"""

import gc
import os
import signal
import sys
import threading

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand

from config import clock
from runs.plane.local import protect_from_agents
from runs.scheduler import Scheduler, default_replica_id

log = structlog.get_logger("runs.scheduler")


class Command(BaseCommand):
    help = (
        "Run the scheduler: fire due schedules, dispatch runs to the execution plane, reconcile, "
        "and write a heartbeat, until SIGTERM/SIGINT (then finish the step in hand and exit 0). "
        "Several replicas may run against one PostgreSQL; on SQLite run one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=settings.SCHEDULER_POLL_SECONDS,
            help="Longest wait between passes (default SCHEDULER_POLL_SECONDS, %(default)s).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.SCHEDULER_BATCH_SIZE,
            help="Schedules claimed per transaction (default SCHEDULER_BATCH_SIZE, %(default)s).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.SCHEDULER_WORKERS,
            help="Dispatch threads calling the execution plane (default SCHEDULER_WORKERS, %(default)s).",
        )
        parser.add_argument(
            "--id",
            dest="replica_id",
            default="",
            help="Replica name for heartbeats and leases (default <hostname>-<pid>).",
        )

    def handle(self, *args, **options):
        if options["poll_seconds"] <= 0 or options["batch_size"] < 1 or options["workers"] < 1:
            self.stderr.write("--poll-seconds must be > 0, --batch-size and --workers >= 1")
            raise SystemExit(2)
        # Before any agent starts: a local agent runs as our user and could otherwise read
        # our secrets from /proc/<our pid>/environ.
        if not protect_from_agents() and settings.EXECUTION_PLANE == "local":
            log.warning("scheduler.agents_can_read_its_environment", platform=sys.platform)
        scheduler = Scheduler(
            replica_id=options["replica_id"] or default_replica_id(),
            batch_size=options["batch_size"],
            poll_seconds=options["poll_seconds"],
            workers=options["workers"],
            clock=clock.get_clock(),
        )
        if options["once"]:
            scheduler.run_once(clock.now())
            scheduler.shutdown(wait=True)
            return

        stop = threading.Event()
        signals = StopSignals(on_stop=lambda: (stop.set(), scheduler.wake()))
        signal.signal(signal.SIGTERM, signals.handler)
        signal.signal(signal.SIGINT, signals.handler)
        # What is loaded by now (Django, the apps, the plane client) lives as long as the
        # process: kept out of the collector's full passes, which a burst's thousands of new
        # rows set off, each pass walking every object the process holds.
        gc.collect()
        gc.freeze()
        scheduler.run_forever(stop)


class StopSignals:
    """SIGTERM/SIGINT -> `on_stop()`, called from a thread of its own, never from the handler.

    Python runs a handler in the main thread between any two bytecodes, also inside
    threading's own code while the loop holds an Event's lock (clearing `_wake`, coming back
    from a wait) or while an earlier handler is setting one. Setting an Event there waits for a
    lock its own thread holds: the process never stops (a Ctrl-C, SIGINT to the group followed
    by make serve's SIGTERM, hung the scheduler this way). The handler only writes a byte to a
    pipe; the thread reads it, logs and calls `on_stop`, so the pass in hand still finishes and
    the loop exits at its next check.
    """

    def __init__(self, on_stop):
        self._on_stop = on_stop
        self._read, self._write = os.pipe()
        threading.Thread(target=self._watch, name="scheduler-signals", daemon=True).start()

    def handler(self, signum, frame):
        os.write(self._write, bytes([signum]))

    def _watch(self):
        while True:
            signum = os.read(self._read, 1)[0]
            log.info("scheduler.stop_requested", signal=signal.Signals(signum).name)
            self._on_stop()

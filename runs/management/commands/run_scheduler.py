"""`manage.py run_scheduler`: the scheduler as its own long-lived process.

Thin on purpose: options, signal handlers, build the Scheduler, run it. The loop and its
steps live in `runs.scheduler`.
"""

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

        def request_stop(signum, frame):
            # Only a flag: the pass in hand finishes and the loop exits at its next check.
            log.info("scheduler.stop_requested", signal=signal.Signals(signum).name)
            stop.set()
            scheduler.wake()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        scheduler.run_forever(stop)

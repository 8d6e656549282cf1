"""`manage.py check_scheduler_health`: for a Kubernetes exec probe or cron (docs/operations.md).

Prints one JSON line; exits 0 healthy, 1 stalled, 2 degraded. Also opens and resolves the
`scheduler_stalled` alerts and sends the alert deliveries that are due, unless --no-alerts:
the scheduler replicas send deliveries too, but a stalled one cannot send its own alert.
"""

import json
import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from config import clock
from runs.alerts.delivery import deliver_due
from runs.alerts.stall import health_alerts, scheduler_health

# Deliveries sent per run: at ALERT_WEBHOOK_TIMEOUT_SECONDS (5 s) each, a probe stays within a
# 30 s probe timeout; the rest go at the next run or with a live replica.
DELIVERIES_PER_RUN = 4


class Command(BaseCommand):
    help = (
        "Check the scheduler's heartbeats against overdue schedules. Prints one JSON line and exits "
        "0 (healthy), 1 (stalled: no heartbeat while schedules are overdue) or 2 (degraded)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-alerts", action="store_true", help="Only report; do not open or resolve scheduler_stalled alerts."
        )

    def handle(self, *args, no_alerts=False, **options):
        now = clock.now()
        health = scheduler_health(now=now)
        out = health.as_dict()
        if not no_alerts:
            with transaction.atomic():
                out["alerts_opened"], out["alerts_resolved"] = health_alerts(health)
            out["deliveries_attempted"] = deliver_due(now=now, limit=DELIVERIES_PER_RUN)
        self.stdout.write(json.dumps(out, sort_keys=True))
        self.stdout.flush()
        sys.exit(health.exit_code)

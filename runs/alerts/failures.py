"""The `run_finish` hook: consecutive failures open an alert (and may pause the schedule);
a success resolves it.

Called inside `run_finish`'s transaction, right after the UPDATE that counted the outcome:
that UPDATE holds the schedule's row lock, so the count read here is this finish's own
(two runs finishing at once read 3 and 4, never 4 twice), and the alert's partial unique
constraint settles who opens it.
"""

from __future__ import annotations

from datetime import datetime

from audit.services import Actor
from runs.alerts.models import Alert, AlertCause
from runs.alerts.services import alert_raise, alert_update, alerts_resolve
from runs.models import FAILURE_STATUSES, RunStatus, ScheduleRun
from runs.selectors import get_open_alert
from schedules import services as schedule_services
from schedules.models import Schedule


def failure_words(count: int, name: str, run: ScheduleRun) -> str:
    last = run.error_code or run.get_status_display()
    return f"{count} runs of schedule “{name}” failed in a row (the last: {last})."


def pause_words(count: int) -> str:
    return f"Paused itself after {count} failures in a row. Check the runs' errors, then resume it."


def after_outcome(*, run: ScheduleRun, now: datetime) -> bool:
    """Open, update or resolve the schedule's failure alert; pause it when it asks for that.

    Returns True when this call paused the schedule (the caller then queues no retry).
    """
    if run.status == RunStatus.SUCCESS:
        alerts = Alert.objects.filter(schedule_id=run.schedule_id, cause=AlertCause.CONSECUTIVE_FAILURES)
        alerts_resolve(alerts, detail=f"A run succeeded at {now.isoformat()}.", now=now)
        return False
    if run.status not in FAILURE_STATUSES:
        return False
    schedule = Schedule.objects.select_related("org", "agent").get(pk=run.schedule_id)
    count = schedule.consecutive_failures
    paused = False
    if schedule.enabled and schedule.pause_after_failures and count >= schedule.pause_after_failures:
        schedule_services.schedule_pause(actor=Actor.system(), schedule=schedule, reason=pause_words(count), now=now)
        paused = True
    if count < schedule.alert_after_failures and not paused:
        return False
    detail = failure_words(count, schedule.name, run) + (" " + pause_words(count) if paused else "")
    opened = alert_raise(
        org_id=schedule.org_id, cause=AlertCause.CONSECUTIVE_FAILURES, schedule_id=schedule.pk, detail=detail, now=now
    )
    if opened is None and paused:
        # Open since an earlier failure: the pause is news its channels must hear.
        current = get_open_alert(org_id=schedule.org_id, cause=AlertCause.CONSECUTIVE_FAILURES, schedule_id=schedule.pk)
        if current is not None:
            alert_update(alert=current, detail=detail, now=now)
    return paused

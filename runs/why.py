""""Why didn't it run?": each expected occurrence of a schedule in a time range, beside what
the records say happened to it.

Only reasons the data supports are given:

- a run of the occurrence (scheduled, backfilled or retried) says how it went: ran with its
  status, or skipped (overlap, agent disabled, older than the catch-up window, a monthly
  budget spent) or canceled;
- a later catch-up run whose `missed_count` covers the occurrence: missed while the scheduler
  was not running, coalesced into that run;
- the schedule's audit trail (enable, disable, or an update of `enabled`): disabled then;
- the scheduler replicas' heartbeats: each row spans [started_at, last_beat_at] of one
  replica; when rows exist and none spans the occurrence, no scheduler was running then.
  The table keeps one row per replica, not a history, so this is said only as "no heartbeat
  covers it", never guessed when there are no rows;
- otherwise "no record": nothing tells why.

Occurrences of the expression that a rule of the schedule leaves out on purpose (a day off in
its workday calendar) are listed too, with the rule's reason (`SKIP_SOURCES`).

A read: no writes, no clock (`now` is an argument).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from runs import calendar_data
from runs.models import RunErrorCode, RunStatus, SchedulerHeartbeat, ScheduleRun, TriggerType
from runs.services.backfill import ONE_US, count_occurrences, expected_occurrences
from schedules import timing

# Rows one report lists; a longer range says how many were left out.
REPORT_MAX_ROWS = 500


class Outcome(models.TextChoices):
    RAN = "ran", _("Ran")
    SKIPPED_OVERLAP = "skipped_overlap", _("Skipped: the previous run was still going")
    SKIPPED_AGENT = "skipped_agent", _("Skipped: the agent was disabled")
    SKIPPED_MISSED = "skipped_missed", _("Not run: older than the catch-up window after downtime")
    SKIPPED_BUDGET = "skipped_budget", _("Skipped: the monthly budget was spent")
    CANCELED_DISABLED = "canceled_disabled", _("Canceled: the schedule was disabled")
    MISSED = "missed", _("Missed while the scheduler was not running (counted on a later run)")
    DISABLED = "disabled", _("The schedule was disabled")
    SCHEDULER_DOWN = "scheduler_down", _("No scheduler was running (no heartbeat covers this time)")
    NO_RECORD = "no_record", _("No record of this occurrence")
    SKIPPED_CALENDAR = "skipped_calendar", _("Not run: not a working day in the schedule's calendar")


# Occurrences that never started, so a backfill would run them (runs.services.backfill).
BACKFILLABLE = frozenset(
    {Outcome.SKIPPED_MISSED, Outcome.MISSED, Outcome.DISABLED, Outcome.SCHEDULER_DOWN, Outcome.NO_RECORD}
)


@dataclass
class Occurrence:
    scheduled_for: datetime
    outcome: str
    run: ScheduleRun | None = None  # the occurrence's latest attempt
    counted_on: ScheduleRun | None = None  # the catch-up run whose missed_count covers it
    reason: str = ""  # the words of a skip source (SKIP_SOURCES), e.g. "not a workday in cn-workdays: National Day"

    @property
    def backfillable(self) -> bool:
        return self.outcome in BACKFILLABLE

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label


@dataclass
class Report:
    start: datetime
    end: datetime
    occurrences: list[Occurrence]
    left_out: int  # expected occurrences beyond REPORT_MAX_ROWS

    @property
    def backfillable(self) -> int:
        return sum(1 for o in self.occurrences if o.backfillable)

    @property
    def budget_skipped(self) -> int:
        return sum(1 for o in self.occurrences if o.outcome == Outcome.SKIPPED_BUDGET)

    @property
    def listed_end(self) -> datetime:
        """The end of the listed part: a backfill up to it runs exactly the listed ones."""
        return self.occurrences[-1].scheduled_for + ONE_US if self.left_out else self.end


def _run_outcome(run: ScheduleRun) -> str:
    if run.status == RunStatus.SKIPPED:
        return {
            RunErrorCode.OVERLAP: Outcome.SKIPPED_OVERLAP,
            RunErrorCode.AGENT_DISABLED: Outcome.SKIPPED_AGENT,
            RunErrorCode.MISSED: Outcome.SKIPPED_MISSED,
            RunErrorCode.BUDGET_EXCEEDED: Outcome.SKIPPED_BUDGET,
        }.get(run.error_code, Outcome.RAN)
    if run.status == RunStatus.CANCELED and run.error_code == RunErrorCode.SCHEDULE_DISABLED:
        return Outcome.CANCELED_DISABLED
    return Outcome.RAN


def _enabled_changes(schedule, end: datetime) -> tuple[list[datetime], list[bool]]:
    """(times, enabled after each) from the schedule's audit trail, oldest first."""
    times, states = [], []
    events = AuditEvent.objects.filter(schedule_id=schedule.pk, created_at__lt=end).order_by("created_at", "id")
    for created_at, after in events.values_list("created_at", "after"):
        if isinstance(after, dict) and isinstance(after.get("enabled"), bool):
            times.append(created_at)
            states.append(after["enabled"])
    return times, states


def _catch_up_runs(schedule, start: datetime) -> list[ScheduleRun]:
    """Runs that coalesced missed occurrences, after `start`, oldest first (rare: one per outage)."""
    return list(
        ScheduleRun.objects.filter(schedule_id=schedule.pk, missed_count__gt=0, scheduled_for__gt=start, attempt=1)
        .order_by("scheduled_for")[:200]
    )


def _covered_by(spec, when: datetime, catch_ups: list[ScheduleRun], cache: dict) -> ScheduleRun | None:
    """The first catch-up run after `when` whose missed_count reaches back to `when`."""
    index = bisect.bisect_right([r.scheduled_for for r in catch_ups], when)
    if index == len(catch_ups):
        return None
    run = catch_ups[index]
    # The occurrences from `when` up to the run's own, counted up to missed_count + 1.
    key = (run.pk, when)
    if key not in cache:
        count, cur = 0, when - ONE_US
        while count <= run.missed_count:
            cur = timing.next_fire(spec, cur)
            if cur is None or cur >= run.scheduled_for:
                break
            count += 1
        cache[key] = count
    return run if cache[key] <= run.missed_count else None


# Occurrences of the expression that a rule of the schedule left out on purpose, so that
# "Why didn't it run?" lists them with the rule's reason: each source is called as
# source(schedule, start, end, limit=...) and returns Occurrence rows (no run) in order.
# Another rule (a budget) adds its own function here.
SKIP_SOURCES: list[Callable[..., list[Occurrence]]] = [
    lambda schedule, start, end, *, limit: [
        Occurrence(when, Outcome.SKIPPED_CALENDAR, reason=reason)
        for when, reason in calendar_data.calendar_skips(schedule, start, end, limit=limit)
    ],
]


def _with_skips(schedule, start: datetime, end: datetime, occurrences: list[Occurrence]) -> list[Occurrence]:
    """`occurrences` with every skip source's rows merged in, in time order, at most REPORT_MAX_ROWS."""
    skipped = [row for source in SKIP_SOURCES for row in source(schedule, start, end, limit=REPORT_MAX_ROWS)]
    if not skipped:
        return occurrences
    return sorted(occurrences + skipped, key=lambda o: o.scheduled_for)[:REPORT_MAX_ROWS]


def schedule_occurrence_report(*, schedule, start: datetime, end: datetime, now: datetime) -> Report:
    """What happened to each occurrence of `schedule` in [start, min(end, now))."""
    end = min(end, now)
    expected = expected_occurrences(schedule, start, end, limit=REPORT_MAX_ROWS) if end > start else []
    left_out = 0
    if len(expected) == REPORT_MAX_ROWS:
        left_out = count_occurrences(schedule, expected[-1] + ONE_US, end)
    runs: dict[datetime, ScheduleRun] = {}
    if expected:
        rows = ScheduleRun.objects.filter(
            schedule_id=schedule.pk, scheduled_for__gte=expected[0], scheduled_for__lte=expected[-1]
        ).exclude(trigger_type=TriggerType.MANUAL).order_by("scheduled_for", "attempt")
        for run in rows:
            runs[run.scheduled_for] = run  # the latest attempt wins
    change_times, change_states = _enabled_changes(schedule, end)
    beats = list(SchedulerHeartbeat.objects.values_list("started_at", "last_beat_at"))
    grace = timedelta(seconds=settings.SCHEDULER_STALL_SECONDS)
    catch_ups = _catch_up_runs(schedule, start) if len(runs) < len(expected) else []
    spec, cache = schedule.timing_spec(), {}
    occurrences = []
    for when in expected:
        run = runs.get(when)
        if run is not None:
            occurrences.append(Occurrence(when, _run_outcome(run), run=run))
            continue
        counted_on = _covered_by(spec, when, catch_ups, cache) if catch_ups else None
        if counted_on is not None:
            occurrences.append(Occurrence(when, Outcome.MISSED, counted_on=counted_on))
            continue
        i = bisect.bisect_right(change_times, when)
        if i and not change_states[i - 1]:
            occurrences.append(Occurrence(when, Outcome.DISABLED))
        elif beats and not any(began <= when <= last + grace for began, last in beats):
            occurrences.append(Occurrence(when, Outcome.SCHEDULER_DOWN))
        else:
            occurrences.append(Occurrence(when, Outcome.NO_RECORD))
    if end > start:
        occurrences = _with_skips(schedule, start, expected[-1] + ONE_US if left_out else end, occurrences)
    return Report(start=start, end=end, occurrences=occurrences, left_out=left_out)

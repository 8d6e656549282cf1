"""Budgets at the run level: the firing gate, the run-now/retry refusal, and adding a finished
run's usage to the monthly totals (with the alert when that spends a budget).

The totals and the months are `schedules.budgets`'; this module is what `runs` does with them.
A fire costs one indexed read per scheduler pass for budgets (`BudgetGate`, loaded on the
first occurrence it is asked about), never one per schedule.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext as _

from config.errors import InvalidState
from runs.alerts.models import Alert, AlertCause
from runs.alerts.services import alert_raise, alerts_resolve
from runs.models import RunErrorCode, RunStatus, ScheduleRun
from schedules import budgets
from schedules.models import Schedule, UsageMonth


def _spent_words(row: UsageMonth) -> str:
    parts = [f"{row.total_tokens:,} tokens"]
    if row.cost_usd:
        parts.append(f"${row.cost_usd:,.2f}")
    return f"{' and '.join(parts)} used in {row.month:%Y-%m}"


def skip_message(row: UsageMonth, org_slug: str = "") -> str:
    """Stored on a skipped run (English, like every stored error): what is spent, until when."""
    whose = "the schedule's" if row.schedule_id else (f"org {org_slug}'s" if org_slug else "the org's")
    return (
        f"{whose} monthly budget is spent ({_spent_words(row)}); new occurrences are skipped until "
        f"{row.period_end.isoformat().replace('+00:00', 'Z')} or until the budget is raised."
    )


class BudgetGate:
    """The budgets spent at `now`, read once (lazily: a pass that fires nothing reads nothing)."""

    def __init__(self, now: datetime):
        self.now = now
        self._schedules: dict | None = None
        self._orgs: dict = {}

    def _load(self) -> None:
        # Filled aside, then set: firing threads share one gate and read it while it loads.
        schedules, orgs = {}, {}
        for row in budgets.spent_now(self.now):
            (schedules if row.schedule_id else orgs)[row.schedule_id or row.org_id] = row
        self._orgs = orgs
        self._schedules = schedules

    def verdict(self, schedule: Schedule) -> tuple[str, str, str] | None:
        """(skipped, budget_exceeded, words) when the schedule's or its org's budget is spent."""
        if self._schedules is None:
            self._load()
        row = self._schedules.get(schedule.pk) or self._orgs.get(schedule.org_id)
        if row is None:
            return None
        return RunStatus.SKIPPED, RunErrorCode.BUDGET_EXCEEDED, skip_message(row)


def refuse_when_spent(schedule: Schedule, *, now: datetime) -> None:
    """Run-now and retry: InvalidState (409) in words a person can act on, when a budget is spent."""
    row = (
        UsageMonth.objects.filter(exceeded_at__isnull=False, period_end__gt=now)
        .filter(Q(schedule_id=schedule.pk) | Q(org_id=schedule.org_id, schedule__isnull=True))
        .order_by("schedule_id")
        .first()
    )
    if row is None:
        return
    values = {"tokens": f"{row.total_tokens:,}", "cost": f"{row.cost_usd:,.2f}", "month": f"{row.month:%Y-%m}",
              "until": row.period_end.strftime("%Y-%m-%d %H:%M UTC")}
    if row.schedule_id:
        message = _("This schedule's monthly budget is spent (%(tokens)s tokens, $%(cost)s in %(month)s). "
                    "It can run again from %(until)s, or once its budget is raised.")
    else:
        message = _("The organization's monthly budget is spent (%(tokens)s tokens, $%(cost)s in %(month)s). "
                    "Its schedules can run again from %(until)s, or once an admin raises the budget.")
    raise InvalidState(message % values)


def usage_of(run: ScheduleRun) -> budgets.Usage | None:
    if run.total_tokens is None and run.cost_usd is None:
        return None
    return budgets.Usage(
        input_tokens=run.input_tokens or 0,
        output_tokens=run.output_tokens or 0,
        total_tokens=run.total_tokens or 0,
        cost_usd=run.cost_usd or Decimal(0),
    )


def after_usage(*, run: ScheduleRun, now: datetime) -> None:
    """Add a finished run's usage to the month's totals; alert once per month and scope when
    that spends a budget. Inside `run_finish`'s transaction (`run` with schedule and org)."""
    usage = usage_of(run)
    if usage is None:
        return
    for row in budgets.add_usage(schedule=run.schedule, org=run.org, usage=usage, now=now):
        alerts = Alert.objects.filter(org_id=row.org_id, cause=AlertCause.BUDGET_EXCEEDED, schedule_id=row.schedule_id)
        # Still open from an earlier month: that episode is over, this month's is a new one.
        alerts_resolve(alerts.filter(opened_at__lt=now), detail="A new budget month began.", now=now)
        name = f"schedule “{run.schedule.name}”" if row.schedule_id else f"org {run.org.slug}"
        detail = (
            f"The monthly budget of {name} is spent ({_spent_words(row)}); new occurrences are skipped until "
            f"{row.period_end.isoformat().replace('+00:00', 'Z')}. Runs already in flight may spend a little more."
        )
        alert_raise(org_id=row.org_id, cause=AlertCause.BUDGET_EXCEEDED, schedule_id=row.schedule_id, detail=detail, now=now)

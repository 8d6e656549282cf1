"""Monthly budgets: what an org and each schedule used this month, against what they may use.

The totals are `UsageMonth` rows, one per (org, month) and one per (schedule, month), added to
when a run that reports usage finishes (`add_usage`, called by `runs.usage`). A schedule's month
is the calendar month in the schedule's time zone, an org's in the org's (`Organization.timezone`).
When a total reaches its budget, its row gets `exceeded_at`: the scheduler reads the spent
budgets of the moment in one indexed query per pass (`spent_now`) and skips their occurrences.

Usage arrives when a run ends, so runs already in flight when a budget is reached can still
spend past it: a budget stops new runs, it does not stop running ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F

from schedules.models import Organization, Schedule, UsageMonth


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


def month_of(now: datetime, zone: str) -> tuple[date, datetime]:
    """(first day of `now`'s month in `zone`, the first instant of the next month in UTC)."""
    tz = ZoneInfo(zone or "UTC")
    local = now.astimezone(tz)
    first = local.date().replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    end = datetime(following.year, following.month, 1, tzinfo=tz).astimezone(timezone.utc)
    return first, end


def over_budget(row: UsageMonth, *, tokens: int | None, cost: Decimal | None) -> bool:
    return (tokens is not None and row.total_tokens >= tokens) or (cost is not None and row.cost_usd >= cost)


def _row(*, org_id: int, schedule_id, zone: str, now: datetime) -> UsageMonth:
    """This month's row of the scope, created on first use (a racing creator's row is reused)."""
    month, end = month_of(now, zone)
    lookup = {"org_id": org_id, "schedule_id": schedule_id, "month": month}
    row = UsageMonth.objects.filter(**lookup).first()
    if row is None:
        try:
            with transaction.atomic():
                row = UsageMonth.objects.create(**lookup, period_end=end)
        except IntegrityError:
            row = UsageMonth.objects.get(**lookup)
    return row


def _add(row: UsageMonth, usage: Usage) -> UsageMonth:
    UsageMonth.objects.filter(pk=row.pk).update(
        input_tokens=F("input_tokens") + usage.input_tokens,
        output_tokens=F("output_tokens") + usage.output_tokens,
        total_tokens=F("total_tokens") + usage.total_tokens,
        cost_usd=F("cost_usd") + usage.cost_usd,
    )
    row.refresh_from_db()
    return row


def _mark(row: UsageMonth, *, exceeded: bool, now: datetime) -> bool:
    """Set or clear `exceeded_at`; True when this call set it (one writer wins: conditional)."""
    rows = UsageMonth.objects.filter(pk=row.pk)
    if exceeded:
        return rows.filter(exceeded_at__isnull=True).update(exceeded_at=now) == 1
    rows.filter(exceeded_at__isnull=False).update(exceeded_at=None)
    return False


def add_usage(*, schedule: Schedule, org: Organization, usage: Usage, now: datetime) -> list[UsageMonth]:
    """Add a finished run's usage to this month's totals of its schedule and its org.

    Returns the rows whose budget this call found spent first (at most one alert per month
    and scope follows from that). Call it inside the transaction that finished the run.
    """
    crossed = []
    scopes = (
        (schedule.pk, schedule.timezone, schedule.monthly_token_budget, schedule.monthly_cost_budget_usd),
        (None, org.timezone, org.monthly_token_budget, org.monthly_cost_budget_usd),
    )
    for schedule_id, zone, tokens, cost in scopes:
        row = _add(_row(org_id=org.pk, schedule_id=schedule_id, zone=zone, now=now), usage)
        if over_budget(row, tokens=tokens, cost=cost) and _mark(row, exceeded=True, now=now):
            crossed.append(row)
    return crossed


def refresh(*, org: Organization, schedule: Schedule | None = None, now: datetime) -> None:
    """After a budget or a zone changed: this month's row says spent exactly when it is."""
    if schedule is not None:
        zone, tokens, cost = schedule.timezone, schedule.monthly_token_budget, schedule.monthly_cost_budget_usd
    else:
        zone, tokens, cost = org.timezone, org.monthly_token_budget, org.monthly_cost_budget_usd
    month, _ = month_of(now, zone)
    row = UsageMonth.objects.filter(org_id=org.pk, schedule_id=schedule.pk if schedule else None, month=month).first()
    if row is not None:
        _mark(row, exceeded=over_budget(row, tokens=tokens, cost=cost), now=now)


def this_month(*, org: Organization, schedule: Schedule | None = None, now: datetime) -> UsageMonth:
    """This month's totals of the scope (an unsaved zero row when nothing was used yet)."""
    zone = schedule.timezone if schedule is not None else org.timezone
    month, end = month_of(now, zone)
    schedule_id = schedule.pk if schedule is not None else None
    row = UsageMonth.objects.filter(org_id=org.pk, schedule_id=schedule_id, month=month).first()
    return row or UsageMonth(org_id=org.pk, schedule_id=schedule_id, month=month, period_end=end)


def spent_now(now: datetime) -> list[UsageMonth]:
    """Every budget spent at `now` (org and schedule scopes alike): one read of `usage_exceeded`."""
    return list(
        UsageMonth.objects.filter(exceeded_at__isnull=False, period_end__gt=now).only(
            "org_id", "schedule_id", "month", "period_end", "total_tokens", "cost_usd"
        )
    )

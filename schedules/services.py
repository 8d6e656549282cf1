"""Schedule writes: create, update, delete, enable, disable.

Every function is keyword-only, takes `now`, validates before it writes, computes
`next_run_at`, and records an audit event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import services as audit
from audit.models import AuditAction
from audit.services import Actor
from schedules import budgets, checks, timing, variables
from schedules.notify import notify_schedules_changed
from schedules.models import JITTER_MAX_SECONDS, Agent, Organization, Schedule, ScheduleType

# Fields whose change moves the next fire time.
TIMING_FIELDS = ("schedule_type", "cron_expression", "interval_seconds", "run_at", "timezone", "start_at", "end_at", "calendar")
# What success means and what the schedule may spend (schedules/checks.py, schedules/budgets.py).
CHECK_AND_BUDGET_FIELDS = (
    "success_checks", "retry_failed_checks", "monthly_token_budget", "monthly_cost_budget_usd", "max_tokens", "max_cost_usd",
)
BUDGET_FIELDS = ("timezone", "monthly_token_budget", "monthly_cost_budget_usd")
# Fields a caller may set through create/update (everything else is derived or system-owned).
EDITABLE_FIELDS = (
    "agent",
    "name",
    "description",
    "prompt",
    "output_type",
    "params",
    *TIMING_FIELDS,
    "enabled",
    "max_concurrency",
    "overlap_policy",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "catchup_window_seconds",
    "jitter_seconds",
    "alert_after_failures",
    "pause_after_failures",
    "source_session_id",
    "source_message_id",
    *CHECK_AND_BUDGET_FIELDS,
)


def snapshot(schedule: Schedule, fields=EDITABLE_FIELDS) -> dict:
    """JSON-safe values of the given fields, for audit before/after."""
    out = {}
    for name in fields:
        value = getattr(schedule, name)
        if name == "agent":
            value = schedule.agent.slug if schedule.agent_id else None
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out


def _read_local_times(schedule: Schedule) -> None:
    """A run_at, start_at or end_at given without an offset is local time in the schedule's zone."""
    spec = timing.read_local_times(schedule.timing_spec())
    schedule.run_at, schedule.start_at, schedule.end_at = spec.run_at, spec.start_at, spec.end_at


def prompt_problem(prompt: str | None) -> str:
    """What is wrong with a prompt (a schedule's or a draft's), or ""."""
    if not (prompt or "").strip():
        return _("prompt must not be empty")
    if len(prompt) > settings.SCHEDULE_PROMPT_MAX_LENGTH:
        return _("prompt is %(length)s characters; the limit is %(limit)s") % {
            "length": len(prompt),
            "limit": settings.SCHEDULE_PROMPT_MAX_LENGTH,
        }
    return variables.prompt_problem(prompt)


def _validate(schedule: Schedule, *, now: datetime, check_run_at_future: bool) -> None:
    """Raise ValidationError({field: message}) for anything that must not be stored."""
    errors = {}
    if schedule.agent_id and schedule.agent.org_id != schedule.org_id:
        errors["agent"] = _("agent '%(agent)s' does not belong to org '%(org)s'") % {
            "agent": schedule.agent.slug,
            "org": schedule.org.slug,
        }
    elif schedule.agent_id and not schedule.agent.enabled and schedule.enabled:
        errors["agent"] = agent_disabled(schedule.agent)
    if problem := prompt_problem(schedule.prompt):
        errors["prompt"] = problem
    try:
        schedule.success_checks = checks.clean_checks(schedule.success_checks, output_type=schedule.output_type)
    except ValidationError as exc:
        errors.update({name: messages[0] for name, messages in exc.message_dict.items()})
    if not 0 <= schedule.max_retries <= 10:
        errors["max_retries"] = _("max_retries must be between 0 and 10, got %(value)s") % {
            "value": schedule.max_retries
        }
    if not 0 <= schedule.jitter_seconds <= JITTER_MAX_SECONDS:
        errors["jitter_seconds"] = _("jitter_seconds must be between 0 and %(max)s, got %(value)s") % {
            "max": JITTER_MAX_SECONDS, "value": schedule.jitter_seconds,
        }
    backoff = schedule.retry_backoff_seconds
    if not (
        isinstance(backoff, list)
        and backoff
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 86400 for v in backoff)
    ):
        errors["retry_backoff_seconds"] = _("retry_backoff_seconds must be a non-empty list of seconds (0-86400)")
    # Only a `once` schedule being (re)timed must lie in the future; an untouched finished
    # schedule may keep its past run_at.
    spec = schedule.timing_spec()
    try:
        timing.validate_spec(
            spec,
            now=now if check_run_at_future else datetime.min.replace(tzinfo=now.tzinfo),
            min_interval=settings.SCHEDULE_MIN_INTERVAL_SECONDS,
            max_interval=settings.SCHEDULE_MAX_INTERVAL_SECONDS,
        )
    except timing.ScheduleError as exc:
        errors.setdefault(exc.field, exc.message)  # beside the other fields' errors
    if errors:
        raise ValidationError(errors)
    # The type decides which timing fields mean anything; clear the others so that a
    # stored row never carries a stale expression beside an interval.
    if schedule.schedule_type != ScheduleType.CRON:
        schedule.cron_expression = ""
    else:
        schedule.cron_expression = timing.validate_cron(schedule.cron_expression)
    if schedule.schedule_type != ScheduleType.INTERVAL:
        schedule.interval_seconds = None
    if schedule.schedule_type != ScheduleType.ONCE:
        schedule.run_at = None
    schedule.calendar = timing.validate_calendar(schedule.calendar)


def _wake_scheduler(schedule: Schedule) -> None:
    """A schedule that may now fire sooner than the scheduler's next wake-up: tell it on commit."""
    if schedule.next_run_at is not None:
        transaction.on_commit(notify_schedules_changed)


def _lock(schedule: Schedule, *, no_key: bool = True) -> Schedule:
    """The schedule, re-read under a row lock on the schedule row alone.

    `of=("self",)`: without it the lock also covers the org and agent rows joined in, and
    every foreign-key check on them (each create, run-now and audit insert in the org) then
    waits for this transaction; under load those waits closed deadlock cycles. `no_key`
    (FOR NO KEY UPDATE) is enough for a write that keeps the primary key, and lets the
    foreign-key checks of run inserts on this schedule through; a delete needs FOR UPDATE.
    """
    return (
        Schedule.objects.select_for_update(of=("self",), no_key=no_key)
        .select_related("agent", "org")
        .get(pk=schedule.pk)
    )


def compute_next_run_at(schedule: Schedule, *, now: datetime) -> datetime | None:
    if not schedule.enabled:
        return None
    return timing.next_fire(schedule.timing_spec(), after=now)


@transaction.atomic
def schedule_create(*, actor: Actor, org: Organization, data: dict, now: datetime) -> Schedule:
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("this field cannot be set") for name in sorted(unknown)})
    schedule = Schedule(org=org, created_by=actor.user, updated_by=actor.user, created_at=now, updated_at=now)
    for name, value in data.items():
        setattr(schedule, name, value)
    if data.get("success_checks") is None:
        schedule.success_checks = checks.default_checks(schedule.output_type)
    _read_local_times(schedule)
    _validate(schedule, now=now, check_run_at_future=True)
    schedule.next_run_at = compute_next_run_at(schedule, now=now)
    schedule.save(force_insert=True)
    _wake_scheduler(schedule)
    audit.record(
        actor=actor, org=org, action=AuditAction.CREATE, target=schedule, now=now, after=snapshot(schedule)
    )
    return schedule


@transaction.atomic
def schedule_update(*, actor: Actor, schedule: Schedule, data: dict, now: datetime) -> Schedule:
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("this field cannot be set") for name in sorted(unknown)})
    schedule = _lock(schedule)
    before = snapshot(schedule)
    for name, value in data.items():
        setattr(schedule, name, value)
    _read_local_times(schedule)
    retimed = any(name in data and before[name] != snapshot(schedule, (name,))[name] for name in TIMING_FIELDS)
    _validate(schedule, now=now, check_run_at_future=retimed and schedule.schedule_type == ScheduleType.ONCE)
    after = snapshot(schedule)
    changed = [name for name in EDITABLE_FIELDS if before[name] != after[name]]
    if not changed:
        return schedule
    if "enabled" in changed and schedule.enabled:
        _unpause(schedule)
    if retimed or "enabled" in changed:
        schedule.next_run_at = compute_next_run_at(schedule, now=now)
        schedule.timing_error = ""
        _wake_scheduler(schedule)
    schedule.updated_by = actor.user
    schedule.updated_at = now
    schedule.save()
    if any(name in changed for name in BUDGET_FIELDS):
        budgets.refresh(org=schedule.org, schedule=schedule, now=now)
    edited = [name for name in changed if name != "enabled"]
    if edited:
        audit.record(
            actor=actor,
            org=schedule.org,
            action=AuditAction.UPDATE,
            target=schedule,
            now=now,
            before={k: before[k] for k in edited},
            after={k: after[k] for k in edited},
        )
    if "enabled" in changed:
        # `{"enabled": false}` in a PATCH is a disable: the same audit action says so, and the
        # scheduler is woken the same way to cancel the waiting runs.
        _enabled_changed(actor=actor, schedule=schedule, now=now)
    return schedule


def _set_enabled(*, actor: Actor, schedule: Schedule, enabled: bool, now: datetime) -> Schedule:
    schedule = _lock(schedule)
    if schedule.enabled == enabled:
        return schedule
    schedule.enabled = enabled
    if enabled and not schedule.agent.enabled:
        raise ValidationError({"agent": agent_disabled(schedule.agent)})
    if enabled:
        _unpause(schedule)
    # Re-enabling starts from now: the disabled period is not caught up.
    schedule.next_run_at = compute_next_run_at(schedule, now=now)
    schedule.timing_error = ""
    schedule.updated_by = actor.user
    schedule.updated_at = now
    schedule.save(
        update_fields=[
            "enabled", "next_run_at", "timing_error", "paused_reason", "consecutive_failures", "updated_by", "updated_at"
        ]
    )
    _wake_scheduler(schedule)
    _enabled_changed(actor=actor, schedule=schedule, now=now)
    return schedule


def _unpause(schedule: Schedule) -> None:
    """Enabling a schedule that paused itself (the page's "Resume") clears the reason and
    the failure count: the person resuming asks for `pause_after_failures` fresh tries, not
    a pause at the very next failure. An open failure alert stays open until a run succeeds."""
    if schedule.paused_reason:
        schedule.paused_reason = ""
        schedule.consecutive_failures = 0


@transaction.atomic
def schedule_pause(*, actor: Actor, schedule: Schedule, reason: str, now: datetime) -> Schedule:
    """The schedule disables itself (auto-pause, `pause_after_failures`), keeping the reason.

    Audited as a disable by `actor` (the system), with the reason in `after`; the scheduler
    is woken as for any disable, so the schedule's waiting runs are canceled.
    """
    schedule = _lock(schedule)
    if not schedule.enabled:
        return schedule
    schedule.enabled = False
    schedule.paused_reason = reason[:300]
    schedule.next_run_at = None
    schedule.updated_at = now
    schedule.save(update_fields=["enabled", "paused_reason", "next_run_at", "updated_at"])
    transaction.on_commit(notify_schedules_changed)
    audit.record(
        actor=actor,
        org=schedule.org,
        action=AuditAction.DISABLE,
        target=schedule,
        now=now,
        before={"enabled": True},
        after={"enabled": False, "paused_reason": schedule.paused_reason},
    )
    return schedule


def _enabled_changed(*, actor: Actor, schedule: Schedule, now: datetime) -> None:
    """What switching `enabled` means beyond the flag, whichever write switched it (enable,
    disable, update): the audit action is enable/disable, and a disable wakes the scheduler,
    whose reconcile cancels the schedule's waiting runs (runs/reconcile.py: the runs app ends
    runs, this one does not reach into them)."""
    enabled = schedule.enabled
    if not enabled:
        transaction.on_commit(notify_schedules_changed)
    audit.record(
        actor=actor,
        org=schedule.org,
        action=AuditAction.ENABLE if enabled else AuditAction.DISABLE,
        target=schedule,
        now=now,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )


@transaction.atomic
def schedule_enable(*, actor: Actor, schedule: Schedule, now: datetime) -> Schedule:
    return _set_enabled(actor=actor, schedule=schedule, enabled=True, now=now)


@transaction.atomic
def schedule_disable(*, actor: Actor, schedule: Schedule, now: datetime) -> Schedule:
    return _set_enabled(actor=actor, schedule=schedule, enabled=False, now=now)


@transaction.atomic
def schedule_delete(*, actor: Actor, schedule: Schedule, now: datetime) -> None:
    schedule = _lock(schedule, no_key=False)
    audit.record(
        actor=actor, org=schedule.org, action=AuditAction.DELETE, target=schedule, now=now, before=snapshot(schedule)
    )
    schedule.delete()


def agent_for_org(org: Organization, slug: str) -> Agent:
    try:
        return Agent.objects.get(org=org, slug=slug)
    except Agent.DoesNotExist:
        raise ValidationError(
            {"agent": _("unknown agent '%(agent)s' in org '%(org)s'") % {"agent": slug, "org": org.slug}}
        ) from None


def agent_disabled(agent: Agent) -> str:
    """The message beside the agent field when `agent` is disabled (a schedule's or a draft's)."""
    return _("agent '%(agent)s' is disabled") % {"agent": agent.slug}

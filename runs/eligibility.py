"""Who may run: a queued run starts only while its schedule and its agent are enabled.

The dispatcher applies this when it admits runs (runs/admission.py), so that nothing queued
before a disable (an automatic retry, a manual retry, a run whose lease lapsed) reaches the
plane afterwards.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, Subquery

from runs.models import SCHEDULE_DISABLED_MESSAGE, RunErrorCode, RunStatus, TriggerType
from runs.services.lifecycle import run_finish
from schedules.models import Agent, Schedule


def runnable_q() -> Q:
    """Runs that may start now: the agent the run sends (its snapshot) exists in the org and is
    enabled, and the schedule is enabled. A manual run-now is the exception for the schedule,
    as run_now allows it: a person may run a disabled schedule by hand, never a disabled agent.
    """
    agent_enabled = Agent.objects.filter(org_id=OuterRef("org_id"), slug=OuterRef("agent_slug"), enabled=True)
    schedule_enabled = Schedule.objects.filter(pk=OuterRef("schedule_id"), enabled=True)
    return Q(Exists(agent_enabled)) & (Q(trigger_type=TriggerType.MANUAL) | Q(Exists(schedule_enabled)))


def run_cancel_unrunnable(*, runs, now: datetime) -> int:
    """Cancel those of `runs` (a queryset of waiting runs) that may not start (runnable_q);
    returns how many. Through run_finish, with an error code that says why.

    A run that may not start is ended rather than left queued: waiting would hold it in every
    dispatch pass forever, and enabling the schedule again must not release a backlog.
    """
    agent_state = Agent.objects.filter(org_id=OuterRef("org_id"), slug=OuterRef("agent_slug")).values("enabled")[:1]
    blocked = (
        runs.filter(status=RunStatus.QUEUED)
        .exclude(runnable_q())
        .annotate(agent_enabled=Subquery(agent_state))
        .values_list("id", "agent_slug", "agent_enabled")
    )
    canceled = 0
    for run_id, agent_slug, agent_enabled in blocked:
        if agent_enabled is None:
            code, message = RunErrorCode.AGENT_DISABLED, f"canceled before it started: agent '{agent_slug}' no longer exists in this org"
        elif not agent_enabled:
            code, message = RunErrorCode.AGENT_DISABLED, f"canceled before it started: agent '{agent_slug}' is disabled"
        else:
            code, message = RunErrorCode.SCHEDULE_DISABLED, SCHEDULE_DISABLED_MESSAGE
        _, moved = run_finish(run_id=run_id, status=RunStatus.CANCELED, error_code=code, error_message=message, now=now)
        canceled += moved
    return canceled

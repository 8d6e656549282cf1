"""The one way tests build data: one small builder per model.

Schedules are built through the real service (so next_run_at and audit are as in
production); runs through `build_run` and `insert_runs`, as firing writes them. A test that
needs many rows fast uses `clone_schedules` and `new_run` + `insert_runs`. The benchmarks'
generate_series inserts (tests/bench/common.py) are the one documented exception: a million
rows cannot go through Python builders in the time the benchmark allows.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth import get_user_model

from audit.services import Actor
from automation.models import ViewerPreference
from runs.bulk import insert_runs
from runs.models import RunStatus, SchedulerHeartbeat, ScheduleRun
from runs.services.create import build_run
from schedules.drafts import draft_create
from schedules.models import Agent, Membership, Organization, Schedule, ScheduleDraft
from schedules.services import schedule_create
from tests.constants import T0


def make_org(slug: str = "acme", **fields) -> Organization:
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": slug.title(), **fields})
    return org


def make_agent(org: Organization, slug: str = "echo", **fields) -> Agent:
    agent, _ = Agent.objects.get_or_create(org=org, slug=slug, defaults={"name": slug.title(), **fields})
    return agent


def make_membership(user, org: Organization, role: str = "viewer") -> Membership:
    """A plain insert: a second membership of the same user and org is refused by the database."""
    return Membership.objects.create(user=user, org=org, role=role)


def make_user(
    username: str, org: Organization | None = None, role: str = "viewer", *, password: str | None = None,
    superuser: bool = False, **fields,
):
    """A user (password `pw-<username>` unless given), member of `org` with `role` when given."""
    User = get_user_model()
    create = User.objects.create_superuser if superuser else User.objects.create_user
    user = create(username=username, password=password or "pw-" + username, **fields)
    if org is not None:
        make_membership(user, org, role)
    return user


def make_viewer_preference(user, timezone: str = "") -> ViewerPreference:
    return ViewerPreference.objects.create(user=user, timezone=timezone)


def make_schedule(org: Organization, agent: Agent | None = None, *, now: datetime = T0, actor=None, **data):
    data.setdefault("name", "Nightly report")
    data.setdefault("prompt", "Summarise yesterday's sales")
    data.setdefault("schedule_type", "cron")
    if data["schedule_type"] == "cron":
        data.setdefault("cron_expression", "0 9 * * *")
    data["agent"] = agent or make_agent(org)
    # Tests of other behaviour judge a session by its status alone; success checks' own tests
    # (tests/runs/test_outcomes.py) ask for them, or leave them out through the API.
    data.setdefault("success_checks", [])
    return schedule_create(actor=actor or Actor.system(), org=org, data=data, now=now)


def make_draft(user, org: Organization, *, now: datetime = T0, **data) -> ScheduleDraft:
    """A schedule draft (as the chat makes one) through the real service."""
    return draft_create(user=user, org=org, data=data, now=now)


def clone_schedules(template: Schedule, count: int, *, name: str | None = None, **fields) -> list[Schedule]:
    """`count` raw copies of a service-built schedule (named `<name> <i>`), for tests that need
    many rows fast or values the service would refuse (a past `run_at`)."""
    values = {f.attname: getattr(template, f.attname) for f in Schedule._meta.concrete_fields}
    prefix = name or template.name
    rows = [Schedule(**{**values, **fields, "id": uuid.uuid4(), "name": f"{prefix} {i}"}) for i in range(count)]
    return Schedule.objects.bulk_create(rows)


def new_run(schedule: Schedule, *, at: datetime = T0, now: datetime | None = None, **fields) -> ScheduleRun:
    """An unsaved run of `schedule` for the occurrence `at` (built at `now`, default `at`), as
    the scheduler builds it; `schedule.agent` must be loaded. Write many with `insert_runs`."""
    return build_run(schedule=schedule, scheduled_for=at, now=now or at, **fields)


def make_run(
    schedule: Schedule, *, at: datetime = T0, now: datetime | None = None, status: str = RunStatus.QUEUED, **fields
) -> ScheduleRun:
    """A stored run of `schedule` for the occurrence `at`, written as firing writes it."""
    schedule = Schedule.objects.select_related("agent").get(pk=schedule.pk)
    run = new_run(schedule, at=at, now=now, status=status, **fields)
    assert insert_runs([run]), f"a run {run.job_run_id} exists already"
    return ScheduleRun.objects.select_related("schedule", "org").get(pk=run.pk)


def make_heartbeat(replica_id: str = "r1", *, at: datetime = T0, **fields) -> SchedulerHeartbeat:
    return SchedulerHeartbeat.objects.create(replica_id=replica_id, started_at=at, last_beat_at=at, **fields)

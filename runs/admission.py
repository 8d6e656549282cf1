"""Admission: which ready runs may start now, under the limits, and leasing them.

A run is ready when it is `queued`, its `not_before` has passed, and no live lease holds it.
Admission is serialised per org by a row lock on the Organization, so replicas never
exceed `max_concurrent_runs` together: under the locks of the orgs it admits for, we count
each org's *busy* runs (`running`, plus `queued` ones under a live lease: admitted, plane
call in flight), take what still fits the org limit and each schedule's `max_concurrency`, and lease them. A ready
run whose schedule or agent was disabled meanwhile is canceled there instead of started
(runs/eligibility.py).

Plain functions of (database, `now`): the dispatcher's worker pool (runs/dispatch.py) asks
`candidates` and `admit` for work and knows nothing of the policy. An admission is one
transaction of a fixed number of statements, however many runs and orgs it takes, so the
dispatcher admits in large lots (as large as the plane's pace allows, runs/dispatch.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import structlog
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from runs import eligibility
from runs.bulk import id_in, lease_returning
from runs.models import ACTIVE_STATUSES, RunStatus, ScheduleRun
from schedules.models import Organization

log = structlog.get_logger("runs.dispatch")


def ready_q(now: datetime) -> Q:
    """Queued, past `not_before`, and not held by a live lease."""
    return (
        Q(status=RunStatus.QUEUED)
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
    )


def busy_q(now: datetime) -> Q:
    """Runs that hold a concurrency slot: running, or admitted and on their way to the plane."""
    return Q(status=RunStatus.RUNNING) | Q(status=RunStatus.QUEUED, lease_expires_at__gt=now)


def org_busy_counts(now: datetime, *, org_ids=None) -> dict:
    """{org_id: busy runs}, one row per org whatever the number of runs.

    Two grouped queries rather than one with OR, so each is served by its partial index
    (`run_running_idx`, `run_queued_idx`) instead of scanning the whole run history.
    """
    counts: dict = defaultdict(int)
    for q in (Q(status=RunStatus.RUNNING), Q(status=RunStatus.QUEUED, lease_expires_at__gt=now)):
        runs = ScheduleRun.objects.filter(q)
        if org_ids is not None:
            runs = runs.filter(id_in("org_id", org_ids, array_type="bigint"))
        for org, n in runs.order_by().values_list("org_id").annotate(n=Count("id")):
            counts[org] += n
    return dict(counts)


def schedule_busy_counts(now: datetime, schedule_ids) -> dict:
    """{schedule_id: busy runs} for these schedules only (the candidates of one admission).

    Served by `run_active_by_schedule`. Counting every busy run of every schedule instead
    cost a row per running schedule per pass: the more runs were running, the slower the
    next ones were admitted.
    """
    if not schedule_ids:
        return {}
    rows = (
        ScheduleRun.objects.filter(id_in("schedule_id", schedule_ids), status__in=ACTIVE_STATUSES)
        .filter(busy_q(now))
        .order_by()
        .values_list("schedule_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)


# The fewest of the oldest ready runs an admission looks at first (see ready_candidates).
PREFIX_MIN = 200


def ready_candidates(now: datetime, *, limit: int, exclude_orgs=()) -> list[dict]:
    """Ready runs, oldest first, no more per schedule than its free slots.

    The per-schedule cut is in the database (a window over the schedule's ready runs, plus
    its busy ones), so neither a schedule with a long backlog nor many runs waiting behind
    busy schedules (the `queue` policy's one waiting run each) can fill the batch and starve
    everyone behind them. `schedule_busy` is counted only for schedules with ready runs,
    through `run_active_by_schedule`.

    The cut is made on the oldest ready runs only (a prefix twice the `limit`), not on all of
    them: a run's rank in its schedule counts older ready runs only, and those are all in the
    prefix, so the cut is the same. Joining every ready run of a 10,000-run burst to its
    schedule made each admission cost 60 ms however few it took. When the prefix holds too
    few that may start (runs waiting behind busy schedules), the cut is made again on all.
    """
    ready = ScheduleRun.objects.filter(ready_q(now))
    if exclude_orgs:
        ready = ready.exclude(id_in("org_id", exclude_orgs, array_type="bigint"))
    prefix = max(2 * limit, PREFIX_MIN)
    rows = _cut(ready, now=now, limit=limit, prefix=prefix)
    if len(rows) < limit and ready.order_by()[prefix : prefix + 1].exists():  # more than the prefix
        rows = _cut(ready, now=now, limit=limit, prefix=None)
    return rows


def _cut(ready, *, now: datetime, limit: int, prefix: int | None) -> list[dict]:
    """The first `limit` of the oldest `prefix` ready runs (of all of them: None) that their
    schedules' free slots let start."""
    if prefix is not None:
        ready = ScheduleRun.objects.filter(pk__in=ready.order_by("created_at", "id").values("pk")[:prefix])
    busy = (
        ScheduleRun.objects.filter(schedule_id=OuterRef("schedule_id"), status__in=ACTIVE_STATUSES)
        .filter(busy_q(now))
        .order_by()
        .values("schedule_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    ranked = (
        ready.annotate(
            schedule_rank=Window(RowNumber(), partition_by=[F("schedule_id")], order_by=[F("created_at").asc(), F("id").asc()]),
            schedule_limit=F("schedule__max_concurrency"),
            schedule_busy=Coalesce(Subquery(busy), 0),
            org_limit=F("org__max_concurrent_runs"),
        )
        .filter(schedule_rank__lte=F("schedule_limit") - F("schedule_busy"))
        .order_by("created_at", "id")
        .values("id", "org_id", "schedule_id", "schedule_limit", "org_limit")
    )
    return list(ranked[:limit])


# What a plane call reads beyond the run's own snapshot (session_request: the org's slug,
# the chat a schedule came from and its zone, for a run without variables; the local plane:
# the schedule's timeout; the per-run caps sent in metadata, and the success checks the result
# is judged by). Loading whole schedules cost as much as the rest of an admission.
_FOR_THE_PLANE = {
    "org": ("slug",),
    "schedule": (
        "timeout_seconds", "source_session_id", "timezone",
        "max_tokens", "max_cost_usd", "success_checks", "retry_failed_checks",
    ),
}


def candidates(now: datetime, *, room: int) -> list[dict]:
    """Ready runs to try, oldest first, at most a little more than `room`.

    Orgs at their limit are left out, and each org's share is pre-cut by its limit with the
    unlocked counts (that saves locking an org for nothing); per schedule, the query already
    cut each to its free slots. The locked recount in `admit` decides both.
    """
    org_busy = org_busy_counts(now)
    full_orgs = [
        org_id
        for org_id, limit in Organization.objects.filter(id_in("id", org_busy, array_type="bigint")).values_list(
            "id", "max_concurrent_runs"
        )
        if org_busy[org_id] >= limit
    ]
    # A little more than the room: the pre-cut below, and the locked recount in admit, may
    # drop some. Every candidate costs a row to read, so no more than that.
    rows = ready_candidates(now, limit=room + min(room, 100), exclude_orgs=full_orgs)
    taken: dict = defaultdict(int)
    kept = []
    for row in rows:
        if org_busy.get(row["org_id"], 0) + taken[row["org_id"]] < row["org_limit"]:
            taken[row["org_id"]] += 1
            kept.append(row)
    return kept


def admit(rows: list[dict], *, now: datetime, limit: int, replica_id: str, lease_seconds: float) -> list[ScheduleRun]:
    """Under the row locks of the candidates' orgs: recount, take what fits of `rows` (from
    `candidates`, oldest first) up to `limit`, lease it to `replica_id`; returns the leased
    runs, ready for the plane.

    One transaction and the same handful of statements whatever the number of runs and of
    orgs: a burst spread over a thousand orgs once cost a transaction per org per admission.
    A chosen run whose schedule or agent may not run (eligibility) is canceled here instead.
    """
    if not rows:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    org_ids = sorted({row["org_id"] for row in rows})
    with transaction.atomic():
        # FOR NO KEY UPDATE: serialises admissions in each org, while the foreign-key checks of
        # inserts that point at the org (schedules, runs, audit events: FOR KEY SHARE) go on.
        # A plain FOR UPDATE made every such insert wait here, and closed deadlock cycles with
        # the schedule writes. Locked in id order, so two admissions over overlapping orgs
        # wait for each other, never deadlock.
        limits = dict(
            Organization.objects.select_for_update(no_key=True)
            .filter(id_in("id", org_ids, array_type="bigint"))
            .order_by("id")
            .values_list("id", "max_concurrent_runs")
        )
        busy = org_busy_counts(now, org_ids=org_ids)
        free = {org_id: limit_ - busy.get(org_id, 0) for org_id, limit_ in limits.items()}
        per_schedule = schedule_busy_counts(now, {row["schedule_id"] for row in rows})
        chosen = []
        for row in rows:
            if len(chosen) >= limit:
                break
            org_id, schedule_id = row["org_id"], row["schedule_id"]
            if free.get(org_id, 0) <= 0 or per_schedule.get(schedule_id, 0) >= row["schedule_limit"]:
                continue
            chosen.append(row["id"])
            per_schedule[schedule_id] = per_schedule.get(schedule_id, 0) + 1
            free[org_id] -= 1
        if not chosen:
            return []
        # Conditional on still being ready (a cancel or a finish may have landed meanwhile)
        # and on being allowed to run: the schedule and the agent enabled.
        leased = lease_returning(
            ScheduleRun.objects.filter(ready_q(now), eligibility.runnable_q()),
            ids=chosen, owner=replica_id, expires_at=lease_until, related=_FOR_THE_PLANE,
        )
        if len(leased) < len(chosen):
            # A run that may not run is ended here, under the org lock (no other dispatcher
            # can lease it meanwhile), not left queued to be looked at every pass.
            left = set(chosen) - {run.pk for run in leased}
            eligibility.run_cancel_unrunnable(runs=ScheduleRun.objects.filter(ready_q(now), id_in("id", left)), now=now)
    if leased:
        log.info("runs.admitted", orgs=len(org_ids), count=len(leased), replica=replica_id)
    return leased

"""Dispatch end to end on one process: firing, admission, the plane, callback and polling.

The clock is a FakeClock; the plane is a real loopback server; the dispatcher runs its plane
calls inline (workers=0) so every step is deterministic.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from audit.services import Actor
from runs.firing import fire_due
from runs.models import RunStatus, ScheduleRun
from runs.reconcile import reconcile
from runs.services.manual import run_now
from tests.constants import NINE
from tests.factories import clone_schedules, make_agent, make_org, make_run, make_schedule, new_run
from tests.polling import wait_until
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def about(when, expected, tolerance=1.0):
    """Worker times are the dispatch time plus the real milliseconds the plane call took."""
    return expected <= when < expected + timedelta(seconds=tolerance)


def fire(now):
    return fire_due(now=now, batch_size=100, replica_id="test")


def test_cron_schedule_fires_at_its_time_and_reaches_success_by_callback(acme, agent, plane, fake_clock, client):
    schedule = make_schedule(acme, agent, cron_expression="0 9 * * *", timezone="UTC")
    dispatcher = inline_dispatcher()

    fake_clock.set(NINE - timedelta(seconds=1))
    assert fire(fake_clock.now()).written == 0
    assert dispatcher.dispatch_ready(now=fake_clock.now()) == 0

    fake_clock.set(NINE)
    assert fire(NINE).queued == 1
    assert dispatcher.dispatch_ready(now=NINE) == 1
    run = ScheduleRun.objects.get(schedule=schedule)
    assert (run.status, run.session_id) == (RunStatus.RUNNING, "sess-000001")
    assert about(run.started_at, NINE)
    assert run.lease_owner == "test"

    fake_clock.advance(42)
    plane.complete(run.session_id, "success", outputs=[{"type": "markdown", "name": "r.md", "url": "https://f/r.md"}])
    response = plane.send_callback(run.session_id, client=client)
    assert response.status_code == 200 and response.json() == {"status": "applied"}

    run = reload(run)
    assert (run.status, run.finished_at, run.message_id) == (RunStatus.SUCCESS, NINE + timedelta(seconds=42), "msg-000001")
    assert run.outputs == [{"type": "markdown", "name": "r.md", "url": "https://f/r.md"}]
    assert 41 < run.duration_seconds <= 42
    schedule.refresh_from_db()
    assert (schedule.consecutive_failures, schedule.last_run_at) == (0, NINE)


def test_without_a_callback_the_run_reaches_success_by_polling(acme, agent, plane, fake_clock, settings):
    settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
    make_schedule(acme, agent, cron_expression="0 9 * * *")
    fake_clock.set(NINE)
    fire(NINE)
    dispatcher = inline_dispatcher()
    dispatcher.dispatch_ready(now=NINE)
    run = ScheduleRun.objects.get()
    plane.complete(run.session_id, "success")

    # Not polled before SCHEDULER_POLL_PLANE_AFTER_SECONDS without a callback.
    assert reconcile(now=NINE + timedelta(seconds=29), replica_id="test") == 0
    assert reload(run).status == RunStatus.RUNNING
    assert not [r for r in plane.requests if r["method"] == "GET"]

    assert reconcile(now=NINE + timedelta(seconds=31), replica_id="test") == 1
    run = reload(run)
    assert run.status == RunStatus.SUCCESS
    assert run.outputs[0]["url"].endswith("/result.markdown")
    assert run.finished_at == NINE + timedelta(seconds=31)


def test_a_still_running_session_is_polled_again_one_interval_later(acme, agent, plane, settings):
    settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
    run = make_run(make_schedule(acme, agent), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)

    assert reconcile(now=NINE + timedelta(seconds=31), replica_id="test") == 1
    assert reconcile(now=NINE + timedelta(seconds=60), replica_id="test") == 0  # next poll at 61 s
    plane.complete(reload(run).session_id, "failed", error={"code": "agent_crashed", "message": "boom"})
    assert reconcile(now=NINE + timedelta(seconds=61), replica_id="test") == 1
    run = reload(run)
    assert (run.status, run.error_code, run.error_message) == (RunStatus.FAILED, "agent_crashed", "boom")
    assert len([r for r in plane.requests if r["method"] == "GET"]) == 2


def test_a_run_stays_queued_until_its_not_before(acme, agent, plane):
    run = make_run(make_schedule(acme, agent), at=NINE, not_before=NINE + timedelta(seconds=30))
    dispatcher = inline_dispatcher()
    assert dispatcher.dispatch_ready(now=NINE + timedelta(seconds=29)) == 0
    assert reload(run).status == RunStatus.QUEUED and plane.create_calls == 0
    assert dispatcher.dispatch_ready(now=NINE + timedelta(seconds=30)) == 1
    assert reload(run).status == RunStatus.RUNNING


def test_queue_policy_holds_the_waiting_run_until_the_running_one_finishes(acme, agent, plane, fake_clock, client):
    schedule = make_schedule(acme, agent, cron_expression="* * * * *", overlap_policy="queue", max_concurrency=1)
    dispatcher = inline_dispatcher()
    first_at = schedule.next_run_at
    fake_clock.set(first_at)
    fire(first_at)
    dispatcher.dispatch_ready(now=first_at)

    second_at = first_at + timedelta(minutes=1)
    fake_clock.set(second_at)
    assert fire(second_at).queued == 1  # the one allowed to wait
    assert dispatcher.dispatch_ready(now=second_at) == 0
    first, second = ScheduleRun.objects.filter(schedule=schedule).order_by("scheduled_for")
    assert (first.status, second.status) == (RunStatus.RUNNING, RunStatus.QUEUED)
    assert second.lease_owner == "" and plane.unique_sessions == 1

    plane.complete(first.session_id, "success")
    plane.send_callback(first.session_id, client=client)
    assert dispatcher.dispatch_ready(now=second_at) == 1
    assert reload(second).status == RunStatus.RUNNING
    assert plane.unique_sessions == 2


def test_skip_policy_records_a_skipped_run_instead_of_a_second_active_one(acme, agent, plane, fake_clock):
    schedule = make_schedule(acme, agent, cron_expression="* * * * *", overlap_policy="skip", max_concurrency=1)
    first_at = schedule.next_run_at
    fire(first_at)
    inline_dispatcher().dispatch_ready(now=first_at)

    manual, created = run_now(actor=Actor.system(), schedule=schedule, now=first_at + timedelta(seconds=5))
    assert created and (manual.status, manual.error_code) == (RunStatus.SKIPPED, "overlap")
    assert manual.finished_at == first_at + timedelta(seconds=5)
    assert inline_dispatcher().dispatch_ready(now=first_at + timedelta(seconds=6)) == 0
    assert plane.unique_sessions == 1


def test_never_more_than_max_concurrency_of_one_schedule_running(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_concurrency=2)
    runs = [make_run(schedule, at=NINE + timedelta(minutes=i)) for i in range(4)]
    dispatcher = inline_dispatcher()
    assert dispatcher.dispatch_ready(now=NINE + timedelta(minutes=5)) == 2
    assert dispatcher.dispatch_ready(now=NINE + timedelta(minutes=5)) == 0
    statuses = [reload(r).status for r in runs]
    assert statuses == [RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.QUEUED]


def test_the_org_limit_holds_runs_queued_and_admits_them_as_slots_free(plane, client):
    org = make_org("tight", max_concurrent_runs=2)
    agent = make_agent(org, "echo")
    schedules = [make_schedule(org, agent, name=f"s{i}") for i in range(3)]
    runs = [make_run(s, at=NINE) for s in schedules]
    other_org_run = make_run(make_schedule(make_org("roomy"), make_agent(make_org("roomy"))), at=NINE)
    dispatcher = inline_dispatcher()

    # Two of tight's three, and roomy's run: a full org does not hold up another.
    assert dispatcher.dispatch_ready(now=NINE) == 3
    assert [reload(r).status for r in runs].count(RunStatus.RUNNING) == 2
    assert reload(other_org_run).status == RunStatus.RUNNING
    waiting = next(r for r in runs if r.status == RunStatus.QUEUED)

    finished = next(r for r in runs if r.status == RunStatus.RUNNING)
    plane.complete(finished.session_id, "success")
    plane.send_callback(finished.session_id, client=client)
    assert dispatcher.dispatch_ready(now=NINE) == 1
    assert reload(waiting).status == RunStatus.RUNNING


def test_a_full_org_backlog_does_not_starve_other_orgs(plane, settings):
    settings.SCHEDULER_BATCH_SIZE = 5
    busy_org = make_org("busy", max_concurrent_runs=1)
    busy_agent = make_agent(busy_org, "echo")
    busy_runs = [make_run(make_schedule(busy_org, busy_agent, name=f"b{i}"), at=NINE) for i in range(30)]
    late_org = make_org("late")
    late_run = make_run(make_schedule(late_org, make_agent(late_org)), at=NINE + timedelta(seconds=1))
    dispatcher = inline_dispatcher()
    dispatcher.dispatch_ready(now=NINE + timedelta(seconds=1))
    dispatcher.dispatch_ready(now=NINE + timedelta(seconds=2))
    assert reload(late_run).status == RunStatus.RUNNING
    assert sum(reload(r).status == RunStatus.RUNNING for r in busy_runs) == 1


def test_runs_waiting_behind_busy_schedules_do_not_starve_a_ready_run_behind_them(acme, agent, plane, settings):
    """More `queue`-policy waiting runs than one pass looks at: the ready run still goes."""
    from runs.bulk import insert_runs

    settings.SCHEDULER_BATCH_SIZE = 10  # a pass looks at 100 candidates at most
    type(acme).objects.filter(pk=acme.pk).update(max_concurrent_runs=1000)
    template = make_schedule(acme, agent, overlap_policy="queue", cron_expression="0 12 * * *")
    busy = clone_schedules(template, 120, name="busy")
    rows = []
    for schedule in busy:
        schedule.agent = agent
        rows.append(new_run(schedule, at=NINE, status=RunStatus.RUNNING))
        rows.append(new_run(schedule, at=NINE + timedelta(minutes=1)))
    assert len(insert_runs(rows)) == 240
    late = make_run(make_schedule(acme, agent, name="late"), at=NINE + timedelta(minutes=5))

    assert inline_dispatcher().dispatch_ready(now=NINE + timedelta(minutes=5)) == 1
    assert reload(late).status == RunStatus.RUNNING
    assert ScheduleRun.objects.filter(status=RunStatus.QUEUED).count() == 120  # still waiting their turn


def test_expired_lease_is_dispatched_again_with_the_same_job_run_id_and_one_session(acme, agent, plane, settings):
    settings.SCHEDULER_LEASE_SECONDS = 60
    run = make_run(make_schedule(acme, agent), at=NINE)

    class DiesAfterThePlaneAnswers:
        """The real http client, in a process that dies right after the plane accepted."""

        synchronous = False

        def __init__(self, real):
            self.real = real

        def start(self, run, **kwargs):
            self.real.start(run, **kwargs)
            raise SystemExit("replica killed")

    from runs.plane import get_client

    crashed = inline_dispatcher("replica-a", client=DiesAfterThePlaneAnswers(get_client()))
    with pytest.raises(SystemExit):
        crashed.dispatch_ready(now=NINE)
    run = reload(run)
    assert (run.status, run.lease_owner, run.session_id) == (RunStatus.QUEUED, "replica-a", "")
    assert plane.unique_sessions == 1

    survivor = inline_dispatcher("replica-b")
    # The lease still holds: nobody else may start it.
    assert survivor.dispatch_ready(now=NINE + timedelta(seconds=59)) == 0
    assert reconcile(now=NINE + timedelta(seconds=60), replica_id="replica-b") == 1
    assert reload(run).lease_owner == ""
    assert survivor.dispatch_ready(now=NINE + timedelta(seconds=60)) == 1

    run = reload(run)
    assert (run.status, run.session_id, run.lease_owner) == (RunStatus.RUNNING, "sess-000001", "replica-b")
    keys = [r["idempotency_key"] for r in plane.requests if r["path"] == "/sessions"]
    assert keys == [run.job_run_id, run.job_run_id]
    assert plane.unique_sessions == 1
    assert ScheduleRun.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dispatch_with_worker_threads_returns_before_the_plane_answers(acme, agent, plane, settings):
    """A slow plane holds a worker thread, never the caller (the scheduler loop)."""
    from runs.dispatch import Dispatcher

    plane.delay_seconds = 10  # held until released below
    settings.EXECUTION_PLANE_TIMEOUT_SECONDS = 20
    run = make_run(make_schedule(acme, agent), at=NINE)
    dispatcher = Dispatcher(replica_id="threads", workers=1)
    try:
        assert dispatcher.dispatch_ready(now=NINE) == 1
        # The call reached the plane, which holds its answer: the caller is back all the same.
        wait_until(lambda: plane.create_calls == 1, what="the start call to reach the plane")
        assert reload(run).status == RunStatus.QUEUED  # the plane has not answered yet

        plane.release()
        wait_until(lambda: reload(run).status != RunStatus.QUEUED, what="the worker to record the plane's answer")
        assert (run.status, run.session_id) == (RunStatus.RUNNING, "sess-000001")
    finally:
        plane.release()
        dispatcher.shutdown(wait=True)


class _CountingLock:
    """A lock that counts the threads waiting for it (so the test knows a pass is held)."""

    def __init__(self):
        self._lock, self.waiting = threading.Lock(), 0

    def acquire(self, blocking=True):
        if not blocking:
            return self._lock.acquire(False)
        self.waiting += 1
        try:
            return self._lock.acquire()
        finally:
            self.waiting -= 1

    def release(self):
        self._lock.release()

    def locked(self):
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admissions_side_by_side_do_not_leave_the_rest_of_a_burst_queued(acme, agent, plane, settings):
    """The scheduler's pass and a refill (after calls end) may admit at the same time. Both
    once read the same candidates, and the one that found them taken decided that nothing
    more was ready: the rest of a burst waited a poll interval for the next pass. Admissions
    now take turns."""
    from django.db import connection, transaction

    from runs.bulk import insert_runs
    from runs.dispatch import Dispatcher
    from schedules.models import Organization

    burst = 1200  # more than two admissions take (2 workers x 256)
    type(acme).objects.filter(pk=acme.pk).update(max_concurrent_runs=burst)
    template = make_schedule(acme, agent, name="burst")
    schedules = [template, *clone_schedules(template, burst - 1)]
    for schedule in schedules:
        schedule.agent = agent
    assert len(insert_runs([new_run(schedule, at=NINE) for schedule in schedules])) == burst
    dispatcher = Dispatcher(replica_id="turns", workers=2, lease_seconds=60)
    for _ in range(200):
        dispatcher.timed_call(0.001)  # a fast plane: the deepest backlog, 256 runs a worker
    dispatcher._admit_lock = _CountingLock()
    org_locked, unlock = threading.Event(), threading.Event()

    def hold_the_org_lock():
        # Every admission waits on this row lock (admission.admit), after reading its candidates.
        try:
            with transaction.atomic():
                Organization.objects.select_for_update().get(pk=acme.pk)
                org_locked.set()
                unlock.wait(30)
        finally:
            connection.close()

    def waiting_on_the_org_lock() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')")
            return cur.fetchone()[0]

    def admit():  # what the scheduler's pass, or a refill, does
        try:
            dispatcher.dispatch_ready(now=NINE)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_the_org_lock, daemon=True)]
    try:
        threads[0].start()
        assert org_locked.wait(10)
        threads += [threading.Thread(target=admit, daemon=True) for _ in range(2)]
        threads[1].start()
        wait_until(lambda: waiting_on_the_org_lock() == 1, what="the first admission to wait on the org lock")
        threads[2].start()
        wait_until(
            lambda: waiting_on_the_org_lock() == 2 or dispatcher._admit_lock.waiting,
            what="the second admission to wait behind the first",
        )
        unlock.set()
        # No further pass: the refills alone start every run of the burst.
        wait_until(lambda: plane.unique_sessions == burst, what="every run of the burst to start")
        wait_until(dispatcher.idle, what="the answers to be written")
        assert ScheduleRun.objects.filter(status=RunStatus.RUNNING).count() == burst
    finally:
        unlock.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(10)
        dispatcher.shutdown(wait=True)


@pytest.mark.django_db(transaction=True)
def test_while_the_scheduler_fires_only_a_few_plane_calls_go_on(acme, agent, plane):
    """Every plane call takes CPU that firing wants (one process, cores shared with the
    database): while the scheduler's thread fires, the burst lane calls with FIRING_CALLERS
    callers only, and with all of them again once firing is done."""
    from runs.bulk import insert_runs
    from runs.dispatch import Dispatcher
    from runs.dispatch_loop import FIRING_CALLERS

    type(acme).objects.filter(pk=acme.pk).update(max_concurrent_runs=100)
    template = make_schedule(acme, agent, name="burst")
    schedules = [template, *clone_schedules(template, 15)]
    for schedule in schedules:
        schedule.agent = agent
    plane.delay_seconds = 0.2  # a slow plane: calls made side by side overlap there
    dispatcher = Dispatcher(replica_id="gentle", workers=8)
    try:
        dispatcher.firing(True)
        insert_runs([new_run(schedule, at=NINE) for schedule in schedules[:8]])
        assert dispatcher.dispatch_ready(now=NINE) == 8
        wait_until(lambda: plane.unique_sessions == 8, what="the runs admitted before firing ended to start")
        assert plane.max_creating == FIRING_CALLERS

        dispatcher.firing(False)
        insert_runs([new_run(schedule, at=NINE) for schedule in schedules[8:]])
        assert dispatcher.dispatch_ready(now=NINE) == 8
        wait_until(lambda: plane.unique_sessions == 16, what="the next runs to start")
        assert plane.max_creating > FIRING_CALLERS
        wait_until(dispatcher.idle, what="the answers to be written")
        assert ScheduleRun.objects.filter(status=RunStatus.RUNNING).count() == 16
    finally:
        dispatcher.shutdown(wait=True)


def test_run_now_with_the_same_idempotency_key_returns_the_first_run_and_audits_once(acme, agent, alice):
    from audit.models import AuditEvent

    schedule = make_schedule(acme, agent)
    first, created = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE, idempotency_key="click-1")
    again, created_again = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE + timedelta(seconds=3), idempotency_key="click-1")
    assert (created, created_again) == (True, False) and again.pk == first.pk
    assert (first.trigger_type, first.status, first.scheduled_for, first.triggered_by) == ("manual", "queued", NINE, alice)
    assert AuditEvent.objects.filter(action="run_now").count() == 1
    other, created_other = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE, idempotency_key="click-2")
    assert created_other and other.pk != first.pk


def test_run_now_is_refused_for_a_disabled_agent(acme, agent, alice):
    from config.errors import InvalidState

    schedule = make_schedule(acme, agent)
    agent.enabled = False
    agent.save()
    with pytest.raises(InvalidState) as err:
        run_now(actor=Actor(user=alice), schedule=schedule, now=NINE)
    assert err.value.message == "agent 'echo' is disabled, so this schedule cannot run"
    assert not ScheduleRun.objects.exists()


def test_the_backlog_a_dispatcher_admits_follows_the_planes_pace(plane):
    """Leased runs waiting in the pool must reach a worker well within their lease."""
    from runs.dispatch import Dispatcher

    dispatcher = Dispatcher(replica_id="pace", workers=4, lease_seconds=60)
    try:
        assert dispatcher._room() == 4 * 8  # no call timed yet
        for _ in range(200):
            dispatcher.timed_call(5.0)
        # 5 s a call: 1 each (more would not start within ADMIT_AHEAD_SECONDS; a quarter of
        # the 60 s lease would allow 3).
        assert dispatcher._room() == 4 * 1
        for _ in range(200):
            dispatcher.timed_call(0.45)
        assert dispatcher._room() == 4 * 4  # what starts within 2 s
        for _ in range(200):
            dispatcher.timed_call(0.002)
        assert dispatcher._room() == 4 * 256  # the cap
        for _ in range(200):
            dispatcher.timed_call(60.0)
        assert dispatcher._room() == 4 * 1  # never less than one each
    finally:
        dispatcher.shutdown()


def test_an_admission_costs_the_same_queries_for_one_run_or_many(acme, agent, plane):
    """Nothing is loaded run by run (a deferred field read lazily would show here)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    costs = {}
    for count in (1, 5):
        runs = [make_run(make_schedule(acme, agent, name=f"n{count}-{i}"), at=NINE) for i in range(count)]
        with CaptureQueriesContext(connection) as ctx:
            assert inline_dispatcher().dispatch_ready(now=NINE) == count
        assert all(reload(r).status == RunStatus.RUNNING for r in runs)
        ScheduleRun.objects.update(status=RunStatus.SUCCESS)
        costs[count] = len(ctx.captured_queries)
    # Inline, each plane answer is written as it comes (one UPDATE); the admission is flat.
    assert costs[5] - costs[1] == 4


def test_an_admission_costs_the_same_queries_for_one_org_or_many(plane):
    """A burst spread over orgs is admitted in one transaction, not one per org."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    costs = {}
    for n_orgs in (1, 5):
        orgs = [make_org(f"o{n_orgs}-{i}") for i in range(n_orgs)]
        agents = [make_agent(org, "echo") for org in orgs]
        runs = [make_run(make_schedule(orgs[i % n_orgs], agents[i % n_orgs], name=f"m{n_orgs}-{i}"), at=NINE) for i in range(5)]
        with CaptureQueriesContext(connection) as ctx:
            assert inline_dispatcher().dispatch_ready(now=NINE) == 5
        assert all(reload(r).status == RunStatus.RUNNING for r in runs)
        ScheduleRun.objects.update(status=RunStatus.SUCCESS)
        costs[n_orgs] = len(ctx.captured_queries)
    assert costs[5] == costs[1]

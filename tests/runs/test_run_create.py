"""Run creation is idempotent by job_run_id: a collision returns the existing row, writes
nothing, and never raises, including between two connections racing on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction

from runs.bulk import insert_runs
from runs.models import RunStatus, ScheduleRun, TriggerType
from runs.services.create import build_run, run_create
from runs.services.ids import manual_job_run_id, scheduled_job_run_id
from tests.constants import T0, NINE
from tests.factories import make_schedule
from tests.polling import wait_until



@pytest.fixture
def schedule(acme, agent):
    return make_schedule(acme, agent, cron_expression="0 9 * * *")


def test_scheduled_job_run_id_is_deterministic_per_occurrence_and_attempt():
    sid = uuid.UUID("3f2a0000-0000-0000-0000-000000000001")
    assert scheduled_job_run_id(sid, NINE, 1) == scheduled_job_run_id(sid, NINE, 1)
    assert scheduled_job_run_id(sid, NINE, 1) == f"{sid.hex}-20261201T090000Z-1"
    assert scheduled_job_run_id(sid, NINE, 2) != scheduled_job_run_id(sid, NINE, 1)
    assert scheduled_job_run_id(sid, NINE + timedelta(days=1), 1) != scheduled_job_run_id(sid, NINE, 1)
    assert len(scheduled_job_run_id(sid, NINE, 10)) <= ScheduleRun._meta.get_field("job_run_id").max_length


def test_manual_job_run_id_is_stable_for_a_key_and_fresh_without_one():
    sid = uuid.uuid4()
    assert manual_job_run_id(sid, "key-1") == manual_job_run_id(sid, "key-1")
    assert manual_job_run_id(sid, "key-1") != manual_job_run_id(sid, "key-2")
    assert manual_job_run_id(uuid.uuid4(), "key-1") != manual_job_run_id(sid, "key-1")
    assert manual_job_run_id(sid, None) != manual_job_run_id(sid, None)
    assert len(manual_job_run_id(sid, "k" * 500)) <= ScheduleRun._meta.get_field("job_run_id").max_length


@pytest.mark.django_db
def test_run_create_twice_returns_the_first_row_and_writes_nothing(schedule):
    first, created = run_create(schedule=schedule, scheduled_for=NINE, now=T0)
    assert created is True
    # The second caller sees a changed schedule; history must not be rewritten.
    schedule.prompt = "something else"
    again, created_again = run_create(schedule=schedule, scheduled_for=NINE, now=T0 + timedelta(seconds=5))
    assert created_again is False
    assert again.pk == first.pk
    assert (again.prompt, again.created_at) == ("Summarise yesterday's sales", T0)
    assert ScheduleRun.objects.count() == 1


@pytest.mark.django_db
def test_run_create_snapshots_what_is_sent(schedule):
    run, _ = run_create(schedule=schedule, scheduled_for=NINE, now=T0)
    run.refresh_from_db()
    assert (run.agent_slug, run.prompt, run.output_type, run.params) == (
        "echo",
        schedule.prompt,
        schedule.output_type,
        schedule.params,
    )
    assert (run.status, run.trigger_type, run.attempt, run.org_id) == (
        RunStatus.QUEUED,
        TriggerType.SCHEDULED,
        1,
        schedule.org_id,
    )
    assert run.job_run_id == scheduled_job_run_id(schedule.pk, NINE, 1)


@pytest.mark.django_db
def test_run_create_of_a_terminal_run_sets_finished_at(schedule):
    run, _ = run_create(
        schedule=schedule, scheduled_for=NINE, now=T0, status=RunStatus.SKIPPED, error_code="overlap"
    )
    assert run.finished_at == T0 and run.is_terminal


@pytest.mark.django_db
def test_insert_runs_returns_only_the_ids_it_wrote(schedule):
    fires = [NINE + timedelta(days=d) for d in range(3)]
    insert_runs([build_run(schedule=schedule, scheduled_for=fires[0], now=T0)])
    written = insert_runs([build_run(schedule=schedule, scheduled_for=f, now=T0) for f in fires])
    assert written == {scheduled_job_run_id(schedule.pk, f, 1) for f in fires[1:]}
    assert ScheduleRun.objects.count() == 3


@pytest.mark.django_db
def test_insert_runs_with_the_same_id_twice_in_one_batch_writes_one_row(schedule):
    twins = [build_run(schedule=schedule, scheduled_for=NINE, now=T0) for _ in range(2)]
    written = insert_runs(twins)
    assert written == {scheduled_job_run_id(schedule.pk, NINE, 1)}
    assert ScheduleRun.objects.count() == 1


@pytest.mark.django_db
def test_insert_runs_of_nothing_writes_nothing():
    assert insert_runs([]) == set()


@pytest.mark.django_db
def test_collision_inside_a_transaction_leaves_it_usable(schedule):
    run_create(schedule=schedule, scheduled_for=NINE, now=T0)
    with transaction.atomic():
        # On PostgreSQL a raised IntegrityError would abort the transaction; ON CONFLICT must not.
        _, created = run_create(schedule=schedule, scheduled_for=NINE, now=T0)
        other, other_created = run_create(schedule=schedule, scheduled_for=NINE + timedelta(days=1), now=T0)
    assert (created, other_created) == (False, True)
    assert ScheduleRun.objects.count() == 2


# --- PostgreSQL: two connections racing ----------------------------------------------------


def _in_own_connection(fn):
    """Run fn in this thread's own database connection, closing it after (else the test
    database cannot be dropped)."""
    try:
        return fn()
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_racing_on_one_job_run_id_get_one_row(schedule):
    rounds, threads_per_round = 10, 2
    for n in range(rounds):
        fire = NINE + timedelta(days=n)
        barrier = threading.Barrier(threads_per_round)
        results, errors = [], []

        def racer():
            def work():
                # Open the connection before the barrier, so the inserts really start together.
                connection.ensure_connection()
                barrier.wait(timeout=10)
                return run_create(schedule=schedule, scheduled_for=fire, now=T0)

            try:
                results.append(_in_own_connection(work))
            except Exception as exc:  # the assertion below reports it
                errors.append(exc)

        threads = [threading.Thread(target=racer) for _ in range(threads_per_round)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        assert len(results) == threads_per_round
        assert len({run.pk for run, _ in results}) == 1, "both callers get the same row"
        assert sorted(created for _, created in results) == [False, True], "exactly one wrote it"
        job_run_id = scheduled_job_run_id(schedule.pk, fire, 1)
        assert ScheduleRun.objects.filter(job_run_id=job_run_id).count() == 1
    assert ScheduleRun.objects.count() == rounds


def _lock_waiters() -> int:
    """Backends of this database waiting on a lock (pg_stat_activity), other than this one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-rolls-back"])
def test_insert_waiting_on_an_uncommitted_twin_returns_the_right_row(schedule, first_commits):
    """The hardest interleaving, made certain: B inserts while A's row is not yet committed.

    B's INSERT ... ON CONFLICT DO NOTHING blocks on A's unique-index entry. If A commits, B
    writes nothing and returns A's row; if A rolls back, B's insert goes through.
    """
    a_inserted, a_may_finish = threading.Event(), threading.Event()
    outcome = {}

    def first():
        def work():
            with transaction.atomic():
                outcome["a"] = run_create(schedule=schedule, scheduled_for=NINE, now=T0)
                a_inserted.set()
                assert a_may_finish.wait(timeout=20)
                if not first_commits:
                    transaction.set_rollback(True)

        try:
            _in_own_connection(work)
        except Exception as exc:
            outcome["a_error"] = exc
            a_inserted.set()

    def second():
        try:
            outcome["b"] = _in_own_connection(
                lambda: run_create(schedule=schedule, scheduled_for=NINE, now=T0 + timedelta(seconds=1))
            )
        except Exception as exc:
            outcome["b_error"] = exc

    ta = threading.Thread(target=first)
    ta.start()
    assert a_inserted.wait(timeout=20)
    tb = threading.Thread(target=second)
    tb.start()
    try:
        wait_until(_lock_waiters, what="B to wait on A's uncommitted row")
    finally:
        a_may_finish.set()
        ta.join(timeout=30)
        tb.join(timeout=30)

    assert "a_error" not in outcome and "b_error" not in outcome, outcome
    (run_a, created_a), (run_b, created_b) = outcome["a"], outcome["b"]
    assert created_a is True
    rows = list(ScheduleRun.objects.all())
    assert len(rows) == 1
    if first_commits:
        assert (created_b, run_b.pk, rows[0].pk) == (False, run_a.pk, run_a.pk)
        assert rows[0].created_at == T0
    else:
        assert (created_b, rows[0].pk) == (True, run_b.pk)
        assert rows[0].created_at == T0 + timedelta(seconds=1)

"""A database error while writing an agent's result must never run the agent a second time.

The failure is PostgreSQL's own: a trigger refuses the run's final UPDATE the first n times
with the error a lock timeout raises, so every layer between (psycopg, Django, the services)
sees what it would see in production.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from runs.models import RunStatus, ScheduleRun
from tests.constants import NINE
from tests.factories import make_agent, make_run, make_schedule
from tests.runs.conftest import PY, reload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def failing_result_writes():
    """`fail(n)`: the next n UPDATEs that take a run out of `running` fail (lock_not_available)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE test_result_write_seq")
        cursor.execute("CREATE TABLE test_result_write_failures (n int NOT NULL)")
        cursor.execute("INSERT INTO test_result_write_failures VALUES (0)")
        # nextval() is not rolled back with the failed statement, so it counts the attempts.
        cursor.execute(
            """CREATE FUNCTION test_fail_result_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF nextval('test_result_write_seq') <= (SELECT n FROM test_result_write_failures) THEN
                RAISE EXCEPTION 'canceling statement due to lock timeout' USING ERRCODE = 'lock_not_available';
              END IF;
              RETURN NEW;
            END $$"""
        )
        cursor.execute(
            "CREATE TRIGGER test_fail_result_write BEFORE UPDATE ON schedule_runs FOR EACH ROW"
            " WHEN (OLD.status = 'running' AND NEW.status <> 'running') EXECUTE FUNCTION test_fail_result_write()"
        )

    def fail(n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("ALTER SEQUENCE test_result_write_seq RESTART")
            cursor.execute("UPDATE test_result_write_failures SET n = %s", [n])

    try:
        yield fail
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_fail_result_write ON schedule_runs")
            cursor.execute("DROP FUNCTION IF EXISTS test_fail_result_write()")
            cursor.execute("DROP TABLE IF EXISTS test_result_write_failures")
            cursor.execute("DROP SEQUENCE IF EXISTS test_result_write_seq")


@pytest.fixture
def counted(acme, local_plane, tmp_path):
    """A schedule whose agent notes every time it runs; returns (schedule, times it ran)."""
    ran = tmp_path / "ran.log"
    local_plane["counted"] = [PY, "-c", f"import sys; sys.stdin.read(); open({str(ran)!r}, 'a').write('ran\\n'); print('done')"]
    # Fires on 1 January only: the passes below see just the run queued by hand.
    schedule = make_schedule(acme, make_agent(acme, "counted"), cron_expression="0 0 1 1 *", output_type="text", timeout_seconds=60)
    return schedule, lambda: ran.read_text().count("ran") if ran.exists() else 0


def test_a_result_write_that_fails_once_is_written_again_and_the_agent_runs_once(counted, failing_result_writes, scheduler_at):
    schedule, times_run = counted
    run = make_run(schedule, at=NINE)
    failing_result_writes(1)
    scheduler = scheduler_at(NINE)

    scheduler.run_once(NINE)
    run = reload(run)
    assert (run.status, times_run()) == (RunStatus.SUCCESS, 1), run.error_message
    assert run.finished_at < NINE + timedelta(seconds=10)

    # Past the timeout and any back-off: nothing times out, nothing runs again.
    for later in (NINE + timedelta(seconds=61), NINE + timedelta(hours=1)):
        scheduler.run_once(later)
    assert (reload(run).status, times_run(), ScheduleRun.objects.count()) == (RunStatus.SUCCESS, 1, 1)


def test_a_result_the_database_refuses_for_longer_is_kept_and_written_by_the_next_pass(
    counted, failing_result_writes, scheduler_at
):
    schedule, times_run = counted
    run = make_run(schedule, at=NINE)
    failing_result_writes(100)  # longer than the writes tried at once
    scheduler = scheduler_at(NINE)

    scheduler.run_once(NINE)
    assert (reload(run).status, times_run()) == (RunStatus.RUNNING, 1)

    failing_result_writes(0)  # the database is back
    scheduler.run_once(NINE + timedelta(seconds=5))
    run = reload(run)
    assert (run.status, times_run()) == (RunStatus.SUCCESS, 1)
    assert run.finished_at < NINE + timedelta(seconds=5)  # when the agent finished, not when written
    scheduler.run_once(NINE + timedelta(hours=1))
    assert (times_run(), ScheduleRun.objects.count()) == (1, 1)

"""Every attempt of an occurrence stores the occurrence's key (`ScheduleRun.occurrence_key`):
a retry's job_run_id and "the later attempts of this run" are read from it, not parsed out of
job_run_id. The migration that adds it fills it for the runs that exist, and reverses."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.services import Actor
from runs.models import RunStatus, ScheduleRun
from runs.services.lifecycle import run_finish
from runs.services.manual import run_now, run_retry
from runs.services.ids import scheduled_job_run_id
from tests.constants import NINE
from tests.factories import make_run, make_schedule

BEFORE, AFTER = ("runs", "0002_active_by_schedule"), ("runs", "0003_occurrence_key")


def migrate_to(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return MigrationExecutor(connection).loader.project_state([target]).apps


@pytest.mark.django_db
def test_every_attempt_of_an_occurrence_shares_its_key_and_retries_extend_it(acme, agent, alice):
    schedule = make_schedule(acme, agent, max_retries=3, max_concurrency=3)
    first = make_run(schedule, at=NINE)
    run_finish(run_id=first.pk, status=RunStatus.FAILED, error_code="agent_failed", now=NINE)
    manual, _ = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE, idempotency_key="click-1")
    run_finish(run_id=manual.pk, status=RunStatus.FAILED, now=NINE, retry=False)
    manual_retry = run_retry(actor=Actor(user=alice), run=manual, now=NINE + timedelta(minutes=1))

    scheduled = ScheduleRun.objects.filter(occurrence_key=first.occurrence_key)
    assert first.occurrence_key == f"{schedule.pk.hex}-20261201T090000Z"
    assert sorted(scheduled.values_list("attempt", "job_run_id")) == [
        (n, scheduled_job_run_id(schedule.pk, NINE, n)) for n in (1, 2)
    ]
    assert manual.occurrence_key == manual.job_run_id
    assert (manual_retry.occurrence_key, manual_retry.job_run_id) == (manual.job_run_id, f"{manual.job_run_id}-2")


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_key_of_existing_runs_and_reverses(acme, agent, alice):
    schedule = make_schedule(acme, agent)
    stem, manual_id = f"{schedule.pk.hex}-20261201T090000Z", f"{schedule.pk.hex}-manual-{'ab' * 12}"
    old_runs = [(f"{stem}-1", 1), (f"{stem}-2", 2), (manual_id, 1), (f"{manual_id}-2", 2)]
    try:
        apps = migrate_to(BEFORE)
        OldRun = apps.get_model("runs", "ScheduleRun")
        for job_run_id, attempt in old_runs:
            OldRun.objects.create(
                id=uuid.uuid4(), job_run_id=job_run_id, schedule_id=schedule.pk, org_id=acme.pk, attempt=attempt,
                scheduled_for=NINE, status=RunStatus.FAILED, queued_at=NINE, created_at=NINE + timedelta(seconds=attempt),
                finished_at=NINE, agent_slug=agent.slug, prompt="p", output_type="none",
                trigger_type="retry" if attempt > 1 else ("manual" if job_run_id == manual_id else "scheduled"),
            )
        migrate_to(AFTER)
        # The current model has later columns (the answer, usage): read it at the latest state.
        call_command("migrate", verbosity=0)
        keys = dict(ScheduleRun.objects.values_list("job_run_id", "occurrence_key"))
        assert keys == {f"{stem}-1": stem, f"{stem}-2": stem, manual_id: manual_id, f"{manual_id}-2": manual_id}
        # And a retry by hand continues the occurrence from the stored key (on the latest
        # schema: the model has the columns later migrations add).
        call_command("migrate", verbosity=0)
        again = run_retry(actor=Actor(user=alice), run=ScheduleRun.objects.get(job_run_id=f"{manual_id}-2"), now=NINE)
        assert again.job_run_id == f"{manual_id}-3"
        migrate_to(BEFORE)
        with connection.cursor() as cursor:
            columns = [c.name for c in connection.introspection.get_table_description(cursor, "schedule_runs")]
        assert "occurrence_key" not in columns
    finally:
        call_command("migrate", verbosity=0)


def test_an_occurrence_key_is_written_from_the_time_it_is_given_each_time():
    """The occurrence's time is formatted once per burst (runs share a handful of times); an
    equal instant given in another zone is still written from its own wall-clock fields."""
    from datetime import timezone

    from runs.services.ids import scheduled_occurrence_key

    schedule_id = uuid.UUID("3f2a0000-0000-0000-0000-000000000001")
    shanghai = timezone(timedelta(hours=8))
    assert scheduled_occurrence_key(schedule_id, NINE) == f"{schedule_id.hex}-20261201T090000Z"
    assert scheduled_occurrence_key(schedule_id, NINE.astimezone(shanghai)) == f"{schedule_id.hex}-20261201T170000Z"
    assert scheduled_occurrence_key(schedule_id, NINE + timedelta(seconds=1)) == f"{schedule_id.hex}-20261201T090001Z"
    assert scheduled_occurrence_key(schedule_id, NINE) == f"{schedule_id.hex}-20261201T090000Z"

"""The two ways a run is written store the same row: the ORM (`build_run` + `insert_runs`, run-now
and retries everywhere, firing on SQLite) and firing's one-statement batch on PostgreSQL
(`insert_run_values`).

On SQLite `insert_run_values` takes the ORM path, so there these prove that the ORM stores
what `run_values` says; on PostgreSQL they also prove the batch statement stores the same.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.bulk import insert_run_values, insert_runs, run_values
from runs.models import RunStatus, ScheduleRun, TriggerType
from runs.services.create import build_run
from runs.services.ids import scheduled_job_run_id
from schedules.models import Schedule
from tests.constants import NINE
from tests.factories import make_schedule

NOW = NINE + timedelta(seconds=12)
# Characters an array literal or a JSON text must carry through as data.
AWKWARD = 'Quote " backslash \\ comma, {braces} NULL (parens) \n newline, ünïcode'

CASES = {
    "queued": {},
    "skipped, missed": dict(
        status=RunStatus.SKIPPED, missed_count=3, error_code="missed", error_message=f"3 occurrence(s) passed. {AWKWARD}"
    ),
    "skipped, overlap": dict(status=RunStatus.SKIPPED, error_code="overlap", error_message="1 run(s) already running"),
    "retry, waiting": dict(trigger_type=TriggerType.RETRY, attempt=2, not_before=NOW + timedelta(seconds=30)),
}


def stored(job_run_id: str) -> dict:
    """Every column of the stored run but its generated id."""
    run = ScheduleRun.objects.get(job_run_id=job_run_id)
    return {f.attname: getattr(run, f.attname) for f in ScheduleRun._meta.concrete_fields if not f.primary_key}


@pytest.fixture
def schedule(acme, agent):
    made = make_schedule(
        acme, agent, cron_expression="0 9 * * *", prompt=f"Summarise the day. {AWKWARD}", output_type="pdf",
        params={"region": 'APAC, "EU"', "n": [1, 2], "none": None, "text": AWKWARD},
    )
    return Schedule.objects.select_related("agent").get(pk=made.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_the_orm_and_the_batch_statement_store_the_same_run(schedule, alice, fields):
    first = build_run(schedule=schedule, scheduled_for=NINE - timedelta(days=1), now=NOW)
    assert insert_runs([first])
    inputs = dict(schedule=schedule, scheduled_for=NINE, now=NOW, retry_of=first, triggered_by=alice, **fields)
    expected = run_values(**inputs)
    job_run_id = expected["job_run_id"]
    assert job_run_id == scheduled_job_run_id(schedule.pk, NINE, fields.get("attempt", 1))

    assert insert_runs([build_run(**inputs)]) == {job_run_id}
    by_orm = stored(job_run_id)
    ScheduleRun.objects.filter(job_run_id=job_run_id).delete()
    assert insert_run_values([run_values(**inputs)]) == {job_run_id}
    by_batch = stored(job_run_id)

    for name, value in expected.items():
        assert (by_orm[name], by_batch[name]) == (value, value), name
    assert by_orm.keys() == by_batch.keys() == expected.keys()


@pytest.mark.django_db
def test_a_run_copies_the_schedules_request_and_a_skipped_one_is_finished_when_written(schedule):
    queued, skipped = (
        run_values(schedule=schedule, job_run_id=f"id-{status}", scheduled_for=NINE, now=NOW, status=status)
        for status in (RunStatus.QUEUED, RunStatus.SKIPPED)
    )
    assert insert_run_values([queued, skipped]) == {"id-queued", "id-skipped"}
    for job_run_id, finished_at in (("id-queued", None), ("id-skipped", NOW)):
        row = stored(job_run_id)
        assert (row["agent_slug"], row["prompt"], row["output_type"], row["params"]) == (
            "echo", schedule.prompt, "pdf", schedule.params,
        )
        assert (row["org_id"], row["queued_at"], row["created_at"], row["finished_at"]) == (
            schedule.org_id, NOW, NOW, finished_at,
        )
        assert (row["outputs"], row["session_id"], row["started_at"], row["lease_expires_at"]) == ([], "", None, None)


@pytest.mark.django_db
def test_the_batch_statement_skips_ids_that_exist_and_returns_only_what_it_wrote(schedule):
    rows = [
        run_values(schedule=schedule, job_run_id=scheduled_job_run_id(schedule.pk, at, 1), scheduled_for=at, now=NOW)
        for at in (NINE, NINE + timedelta(days=1))
    ]
    assert insert_run_values(rows[:1]) == {rows[0]["job_run_id"]}
    assert insert_run_values(rows) == {rows[1]["job_run_id"]}
    assert insert_run_values(rows + rows) == set()
    assert ScheduleRun.objects.count() == 2

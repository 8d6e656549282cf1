"""`runs.services.run_apply_plane_result`: the one way a plane's final answer reaches a run,
whether it came by callback, by poll or in the create answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.plane import PlaneResult
from runs.reconcile import reconcile
from runs.services.lifecycle import run_apply_plane_result
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("plane_status", "run_status"),
    [("success", RunStatus.SUCCESS), ("failed", RunStatus.FAILED), ("canceled", RunStatus.CANCELED), ("timeout", RunStatus.TIMEOUT)],
)
def test_each_final_plane_status_becomes_its_run_status(acme, agent, plane_status, run_status):
    run = make_run(make_schedule(acme, agent, max_retries=0), at=NINE)
    result = PlaneResult(status=plane_status, session_id="sess-9", message_id="msg-9", outputs=[], error_code="", error_message="")
    stored, moved = run_apply_plane_result(run, result, now=NINE + timedelta(seconds=5))
    assert moved
    assert (stored.status, stored.session_id, stored.message_id) == (run_status, "sess-9", "msg-9")
    assert reload(run).finished_at == NINE + timedelta(seconds=5)


@pytest.mark.parametrize("plane_status", ["queued", "running"])
def test_a_result_that_is_not_final_is_refused_and_changes_nothing(acme, agent, plane_status):
    run = make_run(make_schedule(acme, agent), at=NINE)
    with pytest.raises(ValueError, match="not final"):
        run_apply_plane_result(run, PlaneResult(status=plane_status, session_id="sess-9"), now=NINE)
    assert reload(run).status == RunStatus.QUEUED


def test_a_second_final_answer_changes_nothing(acme, agent):
    run = make_run(make_schedule(acme, agent), at=NINE)
    run_apply_plane_result(run, PlaneResult(status="success", session_id="s"), now=NINE)
    stored, moved = run_apply_plane_result(run, PlaneResult(status="failed", session_id="s"), now=NINE + timedelta(seconds=1))
    assert not moved and stored.status == RunStatus.SUCCESS


def test_callback_and_poll_store_the_same_outcome_for_the_same_answer(acme, agent, plane, client, fake_clock, settings):
    settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
    by_callback = make_run(make_schedule(acme, agent, name="callback"), at=NINE)
    by_poll = make_run(make_schedule(acme, agent, name="poll"), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    outputs = [{"type": "markdown", "name": "partial.md", "url": "https://files.plane.test/partial.md"}]
    for run in (by_callback, by_poll):
        plane.complete(reload(run).session_id, "failed", outputs=outputs, error={"code": "agent_crashed", "message": "boom"})

    later = NINE + timedelta(seconds=31)
    fake_clock.set(later)
    assert plane.send_callback(reload(by_callback).session_id, client=client).json() == {"status": "applied"}
    assert reconcile(now=later, replica_id="test") == 1  # polls the other one only

    def outcome(run):
        run = reload(run)
        retry = ScheduleRun.objects.get(retry_of=run)
        return (run.status, run.finished_at, run.outputs, run.error_code, run.error_message, retry.attempt, retry.not_before)

    assert outcome(by_callback) == outcome(by_poll)
    assert outcome(by_poll)[:5] == (RunStatus.FAILED, later, outputs, "agent_crashed", "boom")


def test_accepted_answers_are_written_as_running_in_one_batch(acme, agent, settings):
    from runs.services.lifecycle import run_mark_running_many

    settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS = 30
    schedule = make_schedule(acme, agent)
    first, second, finished = (make_run(schedule, at=NINE + timedelta(minutes=i)) for i in range(3))
    ScheduleRun.objects.filter(pk=second.pk).update(message_id="msg-kept")
    run_apply_plane_result(finished, PlaneResult(status="success", session_id="sess-done"), now=NINE)
    at = NINE + timedelta(seconds=2)

    moved = run_mark_running_many(accepted=[
        (first.pk, 'sess, "quoted" {braces}', "msg-1", at),
        (second.pk, "sess-2", "", at),  # no message id yet: the stored one stays
        (finished.pk, "sess-late", "msg-late", at),  # finished meanwhile: left alone
    ])

    assert moved == 2
    first, second, finished = reload(first), reload(second), reload(finished)
    assert (first.status, first.session_id, first.message_id) == (RunStatus.RUNNING, 'sess, "quoted" {braces}', "msg-1")
    assert (second.status, second.session_id, second.message_id) == (RunStatus.RUNNING, "sess-2", "msg-kept")
    assert first.started_at == at and first.lease_expires_at == at + timedelta(seconds=30)
    assert (finished.status, finished.session_id) == (RunStatus.SUCCESS, "sess-done")

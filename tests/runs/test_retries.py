"""Reliability: failures with clear error codes, back-off retries, timeouts, manual retry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import InvalidState
from runs.models import RunStatus, ScheduleRun, TriggerType
from runs.reconcile import reconcile
from runs.services.ids import retry_job_run_id, scheduled_job_run_id
from runs.services.lifecycle import run_finish
from runs.services.manual import run_retry
from schedules.services import schedule_disable, schedule_update
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.runs.conftest import inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def attempts(schedule):
    return list(ScheduleRun.objects.filter(schedule=schedule).order_by("attempt"))


def latest(schedule):
    return attempts(schedule)[-1]


def test_plane_down_fails_then_retries_after_30_60_and_300_seconds_and_recovers(acme, agent, plane, client):
    schedule = make_schedule(acme, agent, max_retries=3)
    first = make_run(schedule, at=NINE)
    dispatcher = inline_dispatcher()
    plane.down()

    now = NINE
    for attempt, backoff in ((1, 30), (2, 60), (3, 300)):
        assert dispatcher.dispatch_ready(now=now) == 1
        failed = ScheduleRun.objects.get(schedule=schedule, attempt=attempt)
        assert (failed.attempt, failed.status, failed.error_code) == (attempt, RunStatus.FAILED, "plane_unreachable")
        assert "Connection refused" in failed.error_message
        retry = ScheduleRun.objects.get(retry_of=failed)
        assert retry.attempt == attempt + 1 and retry.trigger_type == TriggerType.RETRY
        assert retry.job_run_id == scheduled_job_run_id(schedule.pk, NINE, attempt + 1)
        assert retry.scheduled_for == NINE
        assert retry.not_before == failed.finished_at + timedelta(seconds=backoff)
        # Not a second earlier.
        assert dispatcher.dispatch_ready(now=retry.not_before - timedelta(seconds=1)) == 0
        now = retry.not_before
        schedule.refresh_from_db()
        assert schedule.consecutive_failures == attempt

    plane.up()
    assert dispatcher.dispatch_ready(now=now) == 1
    last = latest(schedule)
    assert (last.attempt, last.status, last.session_id) == (4, RunStatus.RUNNING, "sess-000001")
    plane.complete(last.session_id, "success")
    plane.send_callback(last.session_id, client=client)
    assert reload(last).status == RunStatus.SUCCESS
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 0
    assert [r.status for r in attempts(schedule)] == ["failed", "failed", "failed", "success"]
    assert reload(first).retry_of is None


def test_http_500_keeps_the_attempt_and_sends_it_again_with_the_same_key(acme, agent, plane, settings):
    """A 5xx does not say whether the plane started the session: a new attempt (a new key)
    could start a second one, so the same attempt is sent again after the resend interval."""
    schedule = make_schedule(acme, agent)
    run = make_run(schedule, at=NINE)
    plane.fail_with = 500
    inline_dispatcher().dispatch_ready(now=NINE)
    [waiting] = attempts(schedule)
    assert (waiting.status, waiting.session_id, waiting.error_code) == (RunStatus.RUNNING, "", "plane_http_500")
    assert "answered 500" in waiting.error_message

    plane.fail_with = None
    resend_at = NINE + timedelta(seconds=settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS)
    reconcile(now=resend_at - timedelta(seconds=1), replica_id="r1")
    assert len(plane.requests) == 1  # not a second earlier
    reconcile(now=resend_at + timedelta(seconds=1), replica_id="r1")  # + the call's own time
    run = reload(run)
    assert (run.status, run.session_id, run.error_code) == (RunStatus.RUNNING, "sess-000001", "")
    assert plane.requests[-1]["idempotency_key"] == run.job_run_id
    assert len(attempts(schedule)) == 1 and plane.unique_sessions == 1


def test_an_answer_after_the_deadline_keeps_the_attempt_and_the_resend_finds_the_session(acme, agent, plane, settings):
    schedule = make_schedule(acme, agent)
    run = make_run(schedule, at=NINE)
    plane.delay_seconds = 10  # longer than the client's 0.5 s; released below
    inline_dispatcher().dispatch_ready(now=NINE)
    assert (reload(run).status, reload(run).error_code) == (RunStatus.RUNNING, "plane_timeout")
    assert plane.unique_sessions == 1  # the plane did start it
    plane.release()
    reconcile(now=NINE + timedelta(seconds=settings.SCHEDULER_POLL_PLANE_AFTER_SECONDS + 1), replica_id="r1")
    assert reload(run).session_id == "sess-000001"
    assert len(attempts(schedule)) == 1 and plane.unique_sessions == 1


def test_an_unreadable_create_answer_keeps_the_attempt(acme, agent, plane):
    """A 2xx says the plane accepted the request, even when we cannot read the rest."""
    schedule = make_schedule(acme, agent)
    make_run(schedule, at=NINE)
    plane.malformed = True
    inline_dispatcher().dispatch_ready(now=NINE)
    [waiting] = attempts(schedule)
    assert (waiting.status, waiting.error_code) == (RunStatus.RUNNING, "plane_bad_response")


def test_a_4xx_from_the_plane_is_not_retried(acme, agent, plane):
    schedule = make_schedule(acme, agent)
    make_run(schedule, at=NINE)
    plane.fail_with = 422
    inline_dispatcher().dispatch_ready(now=NINE)
    [failed] = attempts(schedule)
    assert (failed.status, failed.error_code) == (RunStatus.FAILED, "plane_rejected")
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 1


def test_no_automatic_retry_beyond_max_retries(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_retries=1)
    make_run(schedule, at=NINE)
    plane.down()
    dispatcher = inline_dispatcher()
    dispatcher.dispatch_ready(now=NINE)
    dispatcher.dispatch_ready(now=latest(schedule).not_before)
    assert [(r.attempt, r.status) for r in attempts(schedule)] == [(1, "failed"), (2, "failed")]
    assert dispatcher.dispatch_ready(now=NINE + timedelta(hours=2)) == 0
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 2


def test_the_last_backoff_value_repeats(acme, agent, plane):
    schedule = make_schedule(acme, agent, max_retries=4, retry_backoff_seconds=[10, 20])
    make_run(schedule, at=NINE)
    plane.down()
    dispatcher = inline_dispatcher()
    now = NINE
    gaps = []
    for _ in range(4):
        dispatcher.dispatch_ready(now=now)
        failed = ScheduleRun.objects.filter(schedule=schedule, status=RunStatus.FAILED).latest("attempt")
        retry = ScheduleRun.objects.get(retry_of=failed)
        gaps.append(round((retry.not_before - failed.finished_at).total_seconds()))
        now = retry.not_before
    assert gaps == [10, 20, 20, 20]


def test_consecutive_failures_count_across_occurrences_and_reset_on_success(acme, agent, plane, client):
    schedule = make_schedule(acme, agent, max_retries=0)
    dispatcher = inline_dispatcher()
    plane.down()
    for day in range(3):
        make_run(schedule, at=NINE + timedelta(days=day))
        dispatcher.dispatch_ready(now=NINE + timedelta(days=day))
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 3 and schedule.status == "failing"

    plane.up()
    run = make_run(schedule, at=NINE + timedelta(days=3))
    dispatcher.dispatch_ready(now=NINE + timedelta(days=3))
    plane.complete(reload(run).session_id, "success")
    plane.send_callback(run.session_id, client=client)
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 0 and schedule.status == "ok"
    assert schedule.last_run_at == NINE + timedelta(days=3)


def test_a_run_past_its_timeout_times_out_the_plane_is_told_to_cancel_and_it_is_retried(acme, agent, plane):
    schedule = make_schedule(acme, agent, timeout_seconds=600)
    run = make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    session_id = reload(run).session_id

    assert reconcile(now=NINE + timedelta(seconds=599), replica_id="test") == 1  # a poll, not a timeout
    assert reload(run).status == RunStatus.RUNNING
    reconcile(now=NINE + timedelta(seconds=601), replica_id="test")
    run = reload(run)
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, "timeout")
    assert "600 s" in run.error_message
    assert plane.session_for(run.job_run_id).cancel_requested
    assert plane.requests[-1]["path"] == f"/sessions/{session_id}/cancel"
    retry = ScheduleRun.objects.get(retry_of=run)
    assert retry.not_before == run.finished_at + timedelta(seconds=30)
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 1


def test_a_disabled_schedule_gets_no_automatic_retry(acme, agent, plane):
    schedule = make_schedule(acme, agent)
    run = make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    assert reload(run).status == RunStatus.RUNNING
    # Disabled while the plane runs it; the failure that follows must not queue a retry.
    schedule_disable(actor=Actor.system(), schedule=schedule, now=NINE)
    run_finish(run_id=run.pk, status=RunStatus.FAILED, error_code="agent_failed", now=NINE + timedelta(seconds=5))
    assert [r.status for r in attempts(schedule)] == ["failed"]


def test_an_automatic_retry_sends_what_the_first_attempt_sent(acme, agent, plane):
    schedule = make_schedule(acme, agent, prompt="Old prompt")
    make_run(schedule, at=NINE)
    schedule_update(actor=Actor.system(), schedule=schedule, data={"prompt": "New prompt"}, now=NINE)
    plane.down()
    inline_dispatcher().dispatch_ready(now=NINE)
    assert latest(schedule).prompt == "Old prompt"


# --- manual retry ------------------------------------------------------------------------------


def test_manual_retry_of_a_failed_run_creates_the_next_attempt_and_audits_it(acme, agent, plane, alice):
    schedule = make_schedule(acme, agent, max_retries=0)
    failed = make_run(schedule, at=NINE)
    plane.down()
    inline_dispatcher().dispatch_ready(now=NINE)
    failed = reload(failed)
    assert failed.status == RunStatus.FAILED

    later = NINE + timedelta(minutes=5)
    retry = run_retry(actor=Actor(user=alice, request_id="req-1"), run=failed, now=later)
    assert (retry.attempt, retry.trigger_type, retry.status, retry.retry_of_id) == (2, "retry", "queued", failed.pk)
    assert retry.job_run_id == retry_job_run_id(failed, 2) == scheduled_job_run_id(schedule.pk, NINE, 2)
    assert retry.not_before is None and retry.triggered_by == alice
    event = AuditEvent.objects.get(action="retry")
    assert (event.actor, event.target_id, event.schedule_id, event.request_id) == (alice, str(retry.pk), schedule.pk, "req-1")
    assert event.before["status"] == "failed" and event.after["attempt"] == 2

    plane.up()
    assert inline_dispatcher().dispatch_ready(now=later) == 1
    assert reload(retry).status == RunStatus.RUNNING


def test_manual_retry_numbers_after_the_latest_attempt_of_the_occurrence(acme, agent, plane, alice):
    schedule = make_schedule(acme, agent, max_retries=1)
    make_run(schedule, at=NINE)
    plane.down()
    dispatcher = inline_dispatcher()
    dispatcher.dispatch_ready(now=NINE)
    dispatcher.dispatch_ready(now=latest(schedule).not_before)
    first, second = attempts(schedule)
    # Retrying the older attempt still makes attempt 3, not a second attempt 2.
    retry = run_retry(actor=Actor(user=alice), run=first, now=NINE + timedelta(minutes=1))
    assert retry.attempt == 3 and retry.retry_of == first


def test_manual_retry_of_a_manual_run_keeps_its_id_family(acme, agent, plane, alice):
    from runs.services.manual import run_now

    schedule = make_schedule(acme, agent, max_retries=0)
    manual, _ = run_now(actor=Actor(user=alice), schedule=schedule, now=NINE, idempotency_key="k-1")
    plane.down()
    inline_dispatcher().dispatch_ready(now=NINE)
    retry = run_retry(actor=Actor(user=alice), run=reload(manual), now=NINE + timedelta(minutes=1))
    assert retry.job_run_id == f"{manual.job_run_id}-2"
    run_finish(run_id=retry.pk, status=RunStatus.CANCELED, now=NINE + timedelta(minutes=2))
    third = run_retry(actor=Actor(user=alice), run=reload(retry), now=NINE + timedelta(minutes=3))
    assert (third.attempt, third.job_run_id) == (3, f"{manual.job_run_id}-3")


def test_manual_retry_refuses_a_successful_run(acme, agent, plane, alice, client):
    run = make_run(make_schedule(acme, agent), at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    plane.complete(reload(run).session_id, "success")
    plane.send_callback(run.session_id, client=client)
    with pytest.raises(InvalidState) as err:
        run_retry(actor=Actor(user=alice), run=reload(run), now=NINE)
    assert err.value.message == "only failed, timed-out or canceled runs can be retried; this run is succeeded"
    assert ScheduleRun.objects.count() == 1 and not AuditEvent.objects.filter(action="retry").exists()


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SKIPPED])
def test_manual_retry_refuses_runs_that_are_not_failed_timed_out_or_canceled(acme, agent, alice, status):
    run = make_run(make_schedule(acme, agent), at=NINE, status=status)
    with pytest.raises(InvalidState) as err:
        run_retry(actor=Actor(user=alice), run=run, now=NINE)
    assert err.value.message == (
        f"only failed, timed-out or canceled runs can be retried; this run is {run.get_status_display().lower()}"
    )


def test_manual_retry_is_refused_while_a_later_attempt_is_waiting(acme, agent, plane, alice):
    schedule = make_schedule(acme, agent, max_retries=3)
    make_run(schedule, at=NINE)
    plane.down()
    inline_dispatcher().dispatch_ready(now=NINE)
    failed, waiting = attempts(schedule)
    with pytest.raises(InvalidState) as err:
        run_retry(actor=Actor(user=alice), run=failed, now=NINE)
    assert err.value.message == "attempt 2 of this run is already queued"


def test_a_canceled_run_can_be_retried_by_hand(acme, agent, alice):
    run = make_run(make_schedule(acme, agent), at=NINE)
    run, moved = run_finish(run_id=run.pk, status=RunStatus.CANCELED, now=NINE)
    assert moved
    retry = run_retry(actor=Actor(user=alice), run=run, now=NINE)
    assert retry.attempt == 2

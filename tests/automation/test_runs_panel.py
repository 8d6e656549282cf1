"""The runs panel (region "Runs"): what each run says, links, refreshing, paging."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.models import ScheduleRun
from tests.automation.pages import controls, hx, names, run_of
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock_at_t0(fake_clock):
    """The pages read the clock: T0, where the fixture schedule's next run is an hour away."""
    return fake_clock


@pytest.fixture
def schedule(acme, agent, now):
    return make_schedule(acme, agent, name="Weekday sales", timezone="Asia/Shanghai", now=now)


def panel(client, schedule, **params):
    response = client.get(f"/automation/schedules/{schedule.pk}/runs/", params, **hx("runs-panel"))
    assert response.status_code == 200, response.content
    return unescape(response.content.decode())


def test_runs_show_status_trigger_attempt_times_duration_and_error(signed_in, alice, schedule, now):
    first = run_of(schedule, "failed", at=now, error_code="plane_unreachable", error_message="connection refused")
    run_of(
        schedule, "success", at=now + timedelta(minutes=2), trigger_type="retry", attempt=2,
        job_run_id=f"{first.job_run_id[:-2]}-2", retry_of=first, missed_count=3,
    )
    html = panel(signed_in(alice), schedule)
    assert html.index("Succeeded") < html.index("Failed"), "newest first"
    assert "Retry" in html and "Attempt 2" in html and "retries attempt 1" in html
    assert "Scheduled" in html  # the first run's trigger
    assert "2026-12-01 08:00:00 <span class=\"zone\">UTC+08:00</span>" in html  # in the schedule's zone
    assert "1 min 12 s" in html
    assert "<code>plane_unreachable</code> connection refused" in html
    assert "3 earlier occurrences missed" in html


def test_session_and_outputs_are_links_and_unsafe_urls_are_not(signed_in, alice, schedule, now, settings):
    settings.EXECUTION_PLANE_SESSION_URL = "https://chat.example.com/chat/{session_id}?m={message_id}"
    run_of(
        schedule, "success", at=now, session_id="s-81", message_id="m 1",
        outputs=[
            {"type": "pdf", "name": "report.pdf", "url": "https://files.example.com/report.pdf"},
            {"type": "text", "name": "sneaky", "url": "javascript:alert(1)"},
        ],
    )
    found = {name: attrs.get("href") for role, name, attrs in controls(panel(signed_in(alice), schedule)) if role == "link"}
    assert found["session s-81"] == "https://chat.example.com/chat/s-81?m=m%201"
    assert found["report.pdf"] == "https://files.example.com/report.pdf"
    assert "sneaky" not in found


def test_without_a_session_url_setting_the_session_is_plain_text(signed_in, alice, schedule, now, settings):
    settings.EXECUTION_PLANE_SESSION_URL = ""
    run_of(schedule, "success", at=now, session_id="s-81")
    html = panel(signed_in(alice), schedule)
    assert "session s-81" in html and "session s-81" not in names(html, "link")


def test_the_panel_never_polls_on_its_own_it_refreshes_with_the_page(signed_in, alice, schedule, now):
    """The table's watcher (tests/automation/test_live.py) sends `runs:changed` to every part
    at once; a panel polling by itself showed a state the row beside it did not."""
    run_of(schedule, "running", at=now)
    html = panel(signed_in(alice), schedule)
    assert "every " not in html
    assert 'hx-trigger="runs:changed from:body"' in html


def test_retry_is_offered_on_failed_timed_out_and_canceled_runs_only(signed_in, olga, schedule, now):
    for i, status in enumerate(["failed", "timeout", "canceled", "success", "skipped", "queued", "running"]):
        run_of(schedule, status, at=now + timedelta(minutes=i))
    html = panel(signed_in(olga), schedule)
    assert names(html, "button").count("Retry") == 3
    for status, word in [("timeout", "Timed out"), ("skipped", "Skipped"), ("queued", "Queued"), ("running", "Running")]:
        assert f'<span class="status run-{status}"><span class="dot" aria-hidden="true"></span>{word}</span>' in html


def test_load_more_pages_by_cursor(signed_in, alice, schedule, now):
    for i in range(25):
        run_of(schedule, "success", at=now + timedelta(minutes=i))
    client = signed_in(alice)
    first = panel(client, schedule)
    more = next(attrs["href"] for role, name, attrs in controls(first) if name == "Load more")
    assert first.count('id="run-') == 20
    rest = unescape(client.get(more, **hx()).content.decode())
    assert rest.lstrip().startswith("<tbody>") and rest.count('id="run-') == 5
    assert "Load more" not in rest
    shown = {line for line in (first + rest).split() if line.startswith('id="run-')}
    assert len(shown) == 25


def test_the_panel_url_without_htmx_goes_to_the_schedule_page(signed_in, alice, schedule):
    response = signed_in(alice).get(f"/automation/schedules/{schedule.pk}/runs/")
    assert response.status_code == 302 and response["Location"] == f"/automation/schedules/{schedule.pk}/"


def test_another_orgs_runs_are_not_found(signed_in, mallory, schedule, now):
    run = run_of(schedule, "failed", at=now)
    client = signed_in(mallory)
    assert client.get(f"/automation/schedules/{schedule.pk}/runs/", **hx("runs-panel")).status_code == 404
    assert client.post(f"/automation/runs/{run.pk}/retry/", **hx()).status_code == 404
    assert not ScheduleRun.objects.filter(retry_of=run).exists()


def test_an_empty_panel_says_when_runs_appear(signed_in, alice, schedule):
    assert "No runs yet" in panel(signed_in(alice), schedule)


def test_the_panel_costs_the_same_queries_for_5_runs_or_a_full_page(signed_in, alice, schedule, now):
    client = signed_in(alice)

    def queries_for(count):
        ScheduleRun.objects.all().delete()
        for i in range(count):
            failed = run_of(schedule, "failed", at=now - timedelta(hours=i + 1), error_code="plane_unreachable")
            run_of(schedule, "success", at=failed.scheduled_for, trigger_type="retry", attempt=2, retry_of=failed)
        panel(client, schedule)  # the first visit also stores the schedule's org in the session
        with CaptureQueriesContext(connection) as captured:
            html = panel(client, schedule)
        assert html.count("<tr id=\"run-") == min(2 * count, 20)
        return len(captured)

    assert queries_for(2) == queries_for(15)


def test_a_long_answer_shows_a_preview_and_the_whole_text_behind_a_disclosure(signed_in, alice, schedule, now):
    answer = "# Sales\n\n" + "Revenue rose in every region. " * 40 + "THE END"
    run = run_of(schedule, "success", at=now, answer=answer)
    run_of(schedule, "success", at=now + timedelta(minutes=1), answer="Short answer.")
    html = panel(signed_in(alice), schedule)
    assert "Short answer." in html and html.count("<details") == 1
    disclosure = html[html.index(f'id="run-{run.pk}-answer"') :]
    assert f"The whole answer ({len(answer)} characters)</summary>" in disclosure
    assert answer in disclosure  # all of it, beyond the preview
    preview = html[html.index('class="answer-preview"') : html.index(f'id="run-{run.pk}-answer"')]
    assert "THE END" not in preview and "Revenue rose" in preview


def test_a_langgraph_run_names_its_thread_and_run_linked_through_the_url_templates(signed_in, alice, schedule, now, settings):
    settings.EXECUTION_PLANE = "langgraph"
    settings.LANGGRAPH_THREAD_URL = "https://studio.example.com/thread/{thread_id}"
    settings.LANGGRAPH_RUN_URL = "https://lg.example.com/threads/{thread_id}/runs/{run_id}"
    run_of(schedule, "success", at=now, session_id="t-1", message_id="r-2")
    found = {name: attrs.get("href") for role, name, attrs in controls(panel(signed_in(alice), schedule)) if role == "link"}
    assert found["thread t-1"] == "https://studio.example.com/thread/t-1"
    assert found["run r-2"] == "https://lg.example.com/threads/t-1/runs/r-2"

    settings.LANGGRAPH_THREAD_URL = settings.LANGGRAPH_RUN_URL = ""
    html = panel(signed_in(alice), schedule)
    assert "thread t-1" in html and "run r-2" in html and not {"thread t-1", "run r-2"} & set(names(html, "link"))

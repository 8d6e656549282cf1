"""Success checks: a succeeded session is judged by what the agent produced (runs/outcomes.py)."""

from __future__ import annotations

import json

import pytest

from runs.models import RunErrorCode, RunStatus, ScheduleRun
from tests.constants import NINE
from tests.factories import make_run, make_schedule
from tests.plane_server import sign
from tests.runs.conftest import PLANE_SECRET, inline_dispatcher, reload

pytestmark = pytest.mark.django_db

CALLBACK = "/api/v1/runs/callback/"


def start(schedule):
    run = make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    return reload(run)


def report(client, run, **body):
    raw = json.dumps({"job_run_id": run.job_run_id, "session_id": run.session_id, "status": "success", **body}).encode()
    answer = client.post(CALLBACK, data=raw, content_type="application/json", HTTP_X_SIGNATURE=sign(PLANE_SECRET, raw))
    assert answer.status_code == 200, answer.content
    return reload(run)


def retries_of(run):
    return ScheduleRun.objects.filter(occurrence_key=run.occurrence_key, attempt__gt=1).count()


def test_a_success_with_no_pdf_fails_with_the_checks_words_and_is_retried(client, acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent, output_type="pdf", success_checks=[{"kind": "output_present"}])
    run = report(client, start(schedule), outputs=[])
    assert (run.status, run.error_code, run.error_message) == (RunStatus.FAILED, RunErrorCode.OUTPUT_CHECK_FAILED, "no PDF output")
    assert retries_of(run) == 1  # the default: agents are nondeterministic
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 1


def test_a_zero_byte_report_fails_min_size_and_is_not_retried_when_the_schedule_says_so(client, acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    schedule = make_schedule(
        acme, agent, output_type="pdf", retry_failed_checks=False,
        success_checks=[{"kind": "output_present"}, {"kind": "min_size", "bytes": 100}],
    )
    outputs = [{"type": "pdf", "name": "report.pdf", "url": "https://files.example/r.pdf", "size_bytes": 0}]
    run = report(client, start(schedule), outputs=outputs)
    assert (run.status, run.error_message) == (RunStatus.FAILED, "report.pdf is 0 bytes, less than 100")
    assert run.outputs[0]["size_bytes"] == 0
    assert retries_of(run) == 0


@pytest.mark.parametrize(
    "check, text, words",
    [
        ({"kind": "contains", "text": "Total"}, "# Sales\nnothing", "the answer does not contain “Total”"),
        ({"kind": "not_contains", "text": "ERROR"}, "ERROR: no data", "the answer contains “ERROR”"),
        ({"kind": "regex", "pattern": r"^# Sales \d{4}"}, "# Sales soon", r"the answer does not match the regular expression ^# Sales \d{4}"),
    ],
)
def test_text_checks_read_the_agents_answer(client, acme, agent, plane, fake_clock, check, text, words):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent, output_type="markdown", success_checks=[check])
    run = report(client, start(schedule), text=text)
    assert (run.status, run.error_message) == (RunStatus.FAILED, words)


def test_a_passing_check_leaves_the_success_alone(client, acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    schedule = make_schedule(acme, agent, output_type="text", success_checks=[{"kind": "regex", "pattern": r"Total: \d+"}])
    assert report(client, start(schedule), text="Total: 42").status == RunStatus.SUCCESS


def test_json_answer_is_validated_against_the_schema(client, acme, agent, plane, fake_clock):
    fake_clock.set(NINE)
    schema = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}
    schedule = make_schedule(acme, agent, output_type="json", success_checks=[{"kind": "json_schema", "schema": schema}])
    run = report(client, start(schedule), text=json.dumps({"total": "many"}))
    assert run.status == RunStatus.FAILED
    assert run.error_message == "the JSON answer does not match its schema at total: 'many' is not of type 'number'"


def test_the_api_gives_new_file_schedules_the_output_check_and_refuses_a_regex_re2_cannot_run(client, alice, agent):
    client.force_login(alice)
    base = {"agent": "echo", "name": "Report", "prompt": "Sales", "cron_expression": "0 9 * * *"}
    created = client.post("/api/v1/schedules/", {**base, "output_type": "pdf"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["success_checks"] == [{"kind": "output_present"}]
    text = client.post("/api/v1/schedules/", {**base, "output_type": "text"}, content_type="application/json")
    assert text.json()["success_checks"] == [] and text.json()["retry_failed_checks"] is True
    bad = client.post(
        "/api/v1/schedules/",
        {**base, "success_checks": [{"kind": "regex", "pattern": r"(a)\1"}]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "check 1: the regular expression (a)\\1 is not valid" in bad.json()["errors"]["success_checks"][0]


def test_the_local_plane_reports_sizes_and_the_agents_usage_file(acme, agent, local_plane):
    schedule = make_schedule(acme, agent, output_type="markdown", success_checks=[{"kind": "min_size", "bytes": 10}])
    run = make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    run = reload(run)
    assert run.status == RunStatus.SUCCESS, run.error_message
    assert run.outputs[0]["size_bytes"] > 10 and run.outputs[0]["content_type"] == "text/markdown"
    assert run.input_tokens > 0 and run.total_tokens == run.input_tokens + run.output_tokens


def test_the_local_echo_agent_writing_nothing_fails_the_output_check(acme, agent, local_plane):
    schedule = make_schedule(acme, agent, output_type="markdown", prompt="EMPTY please", success_checks=[{"kind": "output_present"}])
    run = make_run(schedule, at=NINE)
    inline_dispatcher().dispatch_ready(now=NINE)
    run = reload(run)
    assert (run.status, run.error_code, run.error_message) == ("failed", "output_check_failed", "no Markdown output")


# --- opt-in fetch ---------------------------------------------------------------------------


class _Files:
    """A real file server on loopback: answers every GET with `body`, and counts the GETs."""

    def __init__(self, body: bytes):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        files = self
        self.gets = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                files.gets += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/r/report.md"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def files():
    server = _Files(b"# Sales\n\nTotal: 42")
    yield server
    server.stop()


def contains_total_run(client, acme, agent, files):
    schedule = make_schedule(acme, agent, output_type="markdown", success_checks=[{"kind": "contains", "text": "Total"}])
    return report(client, start(schedule), outputs=[{"type": "markdown", "name": "report.md", "url": files.url}])


def test_an_output_url_is_never_downloaded_by_default(client, acme, agent, plane, fake_clock, files, settings):
    fake_clock.set(NINE)
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True  # even where private addresses are allowed
    run = contains_total_run(client, acme, agent, files)
    assert (run.status, run.error_message) == (RunStatus.FAILED, "the answer does not contain “Total”")
    assert files.gets == 0


def test_a_host_named_in_the_setting_is_read_for_a_text_check(client, acme, agent, plane, fake_clock, files, settings):
    fake_clock.set(NINE)
    settings.OUTPUT_FETCH_HOSTS = ["127.0.0.1"]
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    run = contains_total_run(client, acme, agent, files)
    assert run.status == RunStatus.SUCCESS and files.gets == 1


def test_a_named_host_on_a_private_address_is_refused_by_the_webhooks_rules(client, acme, agent, plane, fake_clock, files, settings):
    fake_clock.set(NINE)
    settings.OUTPUT_FETCH_HOSTS = ["127.0.0.1"]
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    run = contains_total_run(client, acme, agent, files)
    assert run.status == RunStatus.FAILED and files.gets == 0

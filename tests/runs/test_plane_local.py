"""The local execution plane: real subprocesses from LOCAL_AGENTS, run by the dispatcher."""

from __future__ import annotations

import base64
import json
import os

import pytest

from runs.models import RunStatus, ScheduleRun
from runs.plane import get_client
from runs.plane.local import LocalPlaneClient
from tests.constants import NINE
from tests.factories import make_agent, make_run, make_schedule
from tests.runs.conftest import PY, inline_dispatcher, reload

pytestmark = pytest.mark.django_db


def decode(output: dict) -> str:
    header, data = output["url"].split(",", 1)
    assert header.endswith(";base64")
    return base64.b64decode(data).decode()


def dispatch_one(schedule):
    run = make_run(schedule, at=NINE)
    assert inline_dispatcher().dispatch_ready(now=NINE) == 1
    return reload(run)


def test_get_client_picks_local_from_settings(local_plane):
    client = get_client()
    assert isinstance(client, LocalPlaneClient) and client.synchronous


def test_echo_agent_success_stores_its_markdown_as_the_output(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, prompt="Summarise the week", output_type="markdown"))
    assert run.status == RunStatus.SUCCESS, run.error_message
    assert run.session_id.startswith("local-") and run.started_at is not None and run.finished_at >= run.started_at
    [output] = run.outputs
    assert (output["type"], output["name"]) == ("markdown", "result.md")
    assert output["url"].startswith("data:text/markdown;base64,")
    text = decode(output)
    assert text.startswith("# Echo: Summarise the week") and run.job_run_id in text
    assert run.answer == text  # a text-like output is the run's answer too


def test_the_agent_receives_the_contract_payload_on_stdin(acme, local_plane):
    schedule = make_schedule(acme, make_agent(acme, "stdin"), prompt="hello", output_type="json", params={"k": 1})
    run = dispatch_one(schedule)
    payload = json.loads(decode(run.outputs[0]))
    assert payload["prompt"] == "hello" and payload["params"] == {"k": 1} and payload["output_type"] == "json"
    assert payload["metadata"]["job_run_id"] == run.job_run_id and payload["metadata"]["org"] == "acme"
    assert run.outputs[0]["name"] == "result.json"


def test_a_failing_agent_fails_the_run_with_its_stderr_and_is_retried(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, prompt="Please FAIL now"))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_failed")
    assert run.error_message.startswith("the agent ended with exit status 1: echo agent: the prompt asked to FAIL")
    assert run.outputs == []
    assert ScheduleRun.objects.get(retry_of=run).attempt == 2


def test_an_agent_still_running_at_the_timeout_is_killed_and_the_run_times_out(acme, local_plane):
    schedule = make_schedule(acme, make_agent(acme, "sleepy"), timeout_seconds=1)
    run = dispatch_one(schedule)
    # A plane that waited for the agent's 60 s would have recorded its exit, not a timeout.
    assert (run.status, run.error_code) == (RunStatus.TIMEOUT, "timeout")
    assert "after 1 s" in run.error_message
    assert run.started_at is not None  # it was running (and counted as such) while the agent ran
    pid = int(run.session_id.split("-")[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert ScheduleRun.objects.get(retry_of=run).attempt == 2


def test_an_unknown_agent_fails_without_listing_the_configured_ones_and_is_not_retried(acme, local_plane, caplog):
    run = dispatch_one(make_schedule(acme, make_agent(acme, "sales-analyst")))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_not_configured")
    # The org reads this: what else the host runs is none of its business.
    assert run.error_message == "agent 'sales-analyst' is not configured on this execution plane; ask the operator to add it"
    assert ScheduleRun.objects.count() == 1
    # The operator's log has the list.
    [event] = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "local_plane.agent_not_configured"]
    assert event["agent"] == "sales-analyst" and event["configured"] == sorted(local_plane)


def test_the_agent_does_not_inherit_secrets_from_our_environment(acme, local_plane, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("EXECUTION_PLANE_SECRET", "s3cret")
    run = dispatch_one(make_schedule(acme, make_agent(acme, "env"), output_type="json"))
    names = json.loads(decode(run.outputs[0]))
    assert "DATABASE_URL" not in names and "EXECUTION_PLANE_SECRET" not in names
    assert "PATH" in names and "AGENT_JOB_RUN_ID" in names


def test_output_type_none_keeps_no_output(acme, agent, local_plane):
    run = dispatch_one(make_schedule(acme, agent, output_type="none"))
    assert run.status == RunStatus.SUCCESS and run.outputs == []


def test_a_command_that_cannot_start_fails_with_agent_start_failed_without_showing_the_command(acme, local_plane, caplog):
    local_plane["ghost"] = ["/nonexistent/agent-binary"]
    run = dispatch_one(make_schedule(acme, make_agent(acme, "ghost")))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_start_failed")
    assert run.error_message == "agent 'ghost' could not be started on this execution plane; the operator's log says why"
    [event] = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "local_plane.agent_start_failed"]
    assert event["argv0"] == "/nonexistent/agent-binary" and "No such file" in event["error"]


# --- what an agent can reach -------------------------------------------------------------------

SNOOP = """
import json, os, sys
sys.stdin.read()
found = {}
for path in ("manage.py", "config/settings.py", ".env", "db.sqlite3", "../db.sqlite3", "../manage.py"):
    try:
        with open(path, "rb") as f:
            found[path] = len(f.read())
    except OSError as exc:
        found[path] = type(exc).__name__
print(json.dumps({"cwd": os.getcwd(), "listing": os.listdir("."), "found": found}))
"""


def test_an_agent_works_in_a_fresh_empty_directory_removed_after_the_run(acme, local_plane, settings):
    local_plane["snoop"] = [PY, "-c", SNOOP]
    schedule = make_schedule(acme, make_agent(acme, "snoop"), output_type="json")
    first, second = dispatch_one(schedule), reload(make_run(schedule, at=NINE.replace(hour=10)))
    inline_dispatcher().dispatch_ready(now=NINE.replace(hour=10))
    seen = [json.loads(decode(reload(run).outputs[0])) for run in (first, second)]

    for report in seen:
        cwd = os.path.realpath(report["cwd"])
        assert not cwd.startswith(os.path.realpath(settings.BASE_DIR)), cwd
        assert report["listing"] == []
        # Relative paths from the project folder (the scheduler's working directory) lead nowhere.
        assert set(report["found"].values()) == {"FileNotFoundError"}, report["found"]
        assert not os.path.exists(cwd)  # removed when the run ended
    assert seen[0]["cwd"] != seen[1]["cwd"]  # one per run


@pytest.mark.skipif(os.geteuid() != 0, reason="running agents as another user needs root")
def test_with_local_agents_run_as_the_agent_runs_as_that_user_without_our_groups(acme, local_plane, settings, tmp_path):
    import pwd

    secret = tmp_path / "scheduler-only.txt"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    settings.LOCAL_AGENTS_RUN_AS = "nobody"
    local_plane["whoami"] = ["/bin/sh", "-c", f"cat >/dev/null; id -u; id -G; pwd; cat {secret} 2>&1; echo HOME=$HOME"]
    run = dispatch_one(make_schedule(acme, make_agent(acme, "whoami"), output_type="text"))

    assert run.status == RunStatus.SUCCESS, run.error_message
    uid, groups, cwd, denied, home = decode(run.outputs[0]).splitlines()
    nobody = pwd.getpwnam("nobody")
    assert (int(uid), groups) == (nobody.pw_uid, str(nobody.pw_gid))
    assert "Permission denied" in denied and "s3cret" not in denied
    assert home == f"HOME={nobody.pw_dir}"
    assert not os.path.exists(cwd)


def test_with_local_agents_run_as_an_unknown_user_the_run_fails_with_a_plain_error(acme, local_plane, settings, caplog):
    settings.LOCAL_AGENTS_RUN_AS = "no-such-user-here"
    run = dispatch_one(make_schedule(acme, make_agent(acme, "echo")))
    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_start_failed")
    [event] = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "local_plane.agent_start_failed"]
    assert "names no user" in event["error"]


# --- output limits ---------------------------------------------------------------------------


def test_an_agent_writing_more_than_the_cap_is_killed_and_not_retried(acme, local_plane, settings, tmp_path):
    settings.LOCAL_AGENT_MAX_OUTPUT_BYTES = 256 * 1024
    finished = tmp_path / "finished"
    # 64 MB in 64 KB writes, then a mark that it got to the end: it must not.
    local_plane["flood"] = [
        PY,
        "-c",
        "import sys; sys.stdin.read(); chunk = b'x' * 65536\n"
        "for _ in range(1024): sys.stdout.buffer.write(chunk)\n"
        f"open({str(finished)!r}, 'w').write('done')",
    ]
    run = dispatch_one(make_schedule(acme, make_agent(acme, "flood"), output_type="text"))

    assert (run.status, run.error_code) == (RunStatus.FAILED, "agent_output_too_large")
    assert run.error_message == (
        "the agent wrote more than 262,144 bytes of output, the most this execution plane keeps, "
        "and was stopped; make its output smaller (this is not retried)"
    )
    assert run.outputs == []
    assert not finished.exists()  # stopped mid-way, not read to the end
    assert not ScheduleRun.objects.filter(retry_of=run).exists()


def test_output_at_the_cap_is_kept_whole(acme, local_plane, settings):
    settings.LOCAL_AGENT_MAX_OUTPUT_BYTES = 100_000
    local_plane["exact"] = [PY, "-c", "import sys; sys.stdin.read(); sys.stdout.write('y' * 100000)"]
    run = dispatch_one(make_schedule(acme, make_agent(acme, "exact"), output_type="text"))
    assert run.status == RunStatus.SUCCESS, run.error_message
    assert decode(run.outputs[0]) == "y" * 100_000


def test_a_large_payload_reaches_an_agent_that_reads_it_slowly_while_writing(acme, local_plane):
    """stdin, stdout and stderr are served together: no deadlock on full pipe buffers."""
    local_plane["chatty"] = [
        PY,
        "-c",
        "import sys\n"
        "data = b''\n"
        "while chunk := sys.stdin.buffer.read(1000):\n"
        "    data += chunk; sys.stderr.write('e' * 500); sys.stdout.write('o' * 100)\n"
        "sys.stdout.write(str(len(data)))",
    ]
    prompt = "p" * 19_000
    run = dispatch_one(make_schedule(acme, make_agent(acme, "chatty"), prompt=prompt, output_type="text"))
    assert run.status == RunStatus.SUCCESS, run.error_message
    text = decode(run.outputs[0])
    assert int(text.lstrip("o")) > len(prompt)

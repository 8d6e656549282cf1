"""One state on screen: the table's watcher asks whether the viewer's runs changed and, when
they did, sends the one event (`runs:changed`) that the table, the org's chart and the runs
panel all refresh on. (The browser test in tests/e2e/test_one_state.py watches it happen.)"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from guardian.shortcuts import assign_perm

from runs.models import ScheduleRun
from tests.automation.pages import hx, run_of
from tests.factories import make_agent, make_schedule, make_user

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"
WATCH = re.compile(r'<div id="runs-watch" hidden(?: hx-get="([^"]+)" hx-trigger="every 2s")?')


@pytest.fixture(autouse=True)
def clock_at_t0(fake_clock):
    return fake_clock


@pytest.fixture
def schedule(acme, agent, now):
    # Next run an hour away: not due soon, so only runs make the watcher poll.
    return make_schedule(acme, agent, name="Weekday sales", now=now)


def watcher(html: str) -> str | None:
    """The URL the watcher polls, or None when it rests."""
    found = WATCH.search(html)
    assert found, "the table has a watcher"
    return unescape(found.group(1)) if found.group(1) else None


def ask(client, url):
    response = client.get(url, **hx("runs-watch"))
    assert response.status_code == 200
    changed = json.loads(response.get("HX-Trigger", "{}")).get("runs:changed", False)
    return changed, watcher(response.content.decode())


@pytest.mark.parametrize(
    "statuses, polls",
    [(["queued"], True), (["running", "success"], True), (["success", "failed", "canceled"], False), ([], False)],
)
def test_the_watcher_polls_only_while_a_run_is_queued_or_running(signed_in, alice, schedule, now, statuses, polls):
    for i, status in enumerate(statuses):
        run_of(schedule, status, at=now + timedelta(minutes=i))
    html = signed_in(alice).get(TABLE, **hx("schedules-table")).content.decode()
    assert (watcher(html) is not None) is polls


def test_the_watcher_also_polls_while_a_schedule_is_due_within_a_minute(signed_in, alice, acme, agent, now, fake_clock):
    make_schedule(acme, agent, schedule_type="once", run_at=now + timedelta(seconds=50), now=now)
    client = signed_in(alice)
    assert watcher(client.get(TABLE).content.decode()) is not None
    fake_clock.set(now - timedelta(seconds=20))
    assert watcher(client.get(TABLE).content.decode()) is None


def test_a_run_that_starts_or_ends_sends_one_event_and_the_same_state_sends_none(signed_in, alice, schedule, now):
    client = signed_in(alice)
    run = run_of(schedule, "queued", at=now)
    url = watcher(client.get(TABLE).content.decode())
    assert ask(client, url) == (False, url), "nothing changed: no event, the same question next time"

    ScheduleRun.objects.filter(pk=run.pk).update(status="running", started_at=now)
    changed, url = ask(client, url)
    assert changed and url is not None
    assert ask(client, url) == (False, url)

    ScheduleRun.objects.filter(pk=run.pk).update(status="success", finished_at=now + timedelta(seconds=5))
    changed, url = ask(client, url)
    assert changed and url is None, "the page refreshes once more, then the watcher rests"


def test_a_run_born_finished_changes_the_state(signed_in, alice, schedule, now):
    client = signed_in(alice)
    run_of(schedule, "running", at=now)
    url = watcher(client.get(TABLE).content.decode())
    run_of(schedule, "skipped", at=now + timedelta(minutes=1))
    assert ask(client, url)[0]


def test_another_orgs_runs_and_schedules_out_of_reach_never_move_the_state(signed_in, acme, agent, globex, schedule, now):
    other_org_schedule = make_schedule(globex, make_agent(globex, "echo"), now=now)
    mine = make_schedule(acme, agent, name="Mine", now=now)
    contractor = make_user("contractor")
    assign_perm("schedules.schedules_read", contractor, mine)
    client = signed_in(contractor)
    run_of(mine, "running", at=now)
    url = watcher(client.get(TABLE, {"org": "acme"}).content.decode())
    run_of(other_org_schedule, "running", at=now + timedelta(minutes=1))
    run_of(schedule, "queued", at=now + timedelta(minutes=2))  # same org, not granted to the contractor
    assert ask(client, url) == (False, url)
    run_of(mine, "queued", at=now + timedelta(minutes=3))
    assert ask(client, url)[0]


def test_the_watcher_of_an_org_one_cannot_read_is_not_found(signed_in, mallory):
    response = signed_in(mallory).get("/automation/runs/watch/", {"org": "acme"}, **hx("runs-watch"))
    assert response.status_code == 404


def test_every_part_showing_runs_refreshes_on_the_one_event(signed_in, alice, schedule, now):
    client = signed_in(alice)
    run_of(schedule, "running", at=now)
    page = client.get(f"{TABLE}{schedule.pk}/").content.decode()
    chart = client.get("/automation/charts/runs/", {"org": "acme"}, **hx("org-chart")).content.decode()
    listening = 'hx-trigger="[^"]*runs:changed from:body'
    assert re.search(f'id="schedules-table"[^>]*{listening}', page), "the table"
    assert re.search(f'id="runs-panel"[^>]*{listening}', page, re.S), "the runs panel (its chart reloads with it)"
    assert re.search(f'id="org-chart"[^>]*{listening}', chart, re.S), "the org's 24-hour summary"
    assert "every 3s" not in page and page.count("every 2s") == 1, "one poll for the whole page"

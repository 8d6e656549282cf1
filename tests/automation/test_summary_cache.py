"""The org's 24-hour summary is cached per org and viewer scope, and changes with the runs."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from runs.models import ScheduleRun
from tests.automation.pages import hx, run_of
from tests.factories import make_agent, make_schedule, make_user

pytestmark = pytest.mark.django_db

CHART = "/automation/charts/runs/"


@pytest.fixture(autouse=True)
def clock_at_t0(fake_clock):
    return fake_clock


def figures(client, org: str) -> dict[str, str]:
    html = unescape(client.get(CHART, {"org": org}, **hx("org-chart")).content.decode())
    return dict(re.findall(r"<div><dt>([^<]+)</dt><dd>([^<]*)</dd></div>", html))


def test_one_orgs_cached_summary_is_never_served_for_another(client, alice, mallory, acme, agent, globex, now):
    # Same newest run time, nothing active: both orgs' runs states are the same digest.
    run_of(make_schedule(acme, agent, now=now - timedelta(hours=2)), "success", at=now - timedelta(hours=1))
    run_of(make_schedule(globex, make_agent(globex, "echo"), now=now - timedelta(hours=2)), "failed",
           at=now - timedelta(hours=1))
    client.force_login(alice)
    assert figures(client, "acme")["Success rate"] == "100%"
    client.force_login(mallory)
    assert figures(client, "globex")["Success rate"] == "0%"


def test_a_person_granted_one_schedule_never_gets_the_orgs_figures(client, alice, acme, agent, now):
    shared = make_schedule(acme, agent, name="Shared", now=now - timedelta(hours=2))
    run_of(shared, "success", at=now - timedelta(hours=1))
    for i in range(3):
        run_of(make_schedule(acme, agent, name=f"Private {i}", now=now - timedelta(hours=2)), "failed",
               at=now - timedelta(hours=1))
    contractor = make_user("contractor")
    assign_perm("schedules.schedules_read", contractor, shared)
    client.force_login(alice)
    assert figures(client, "acme")["Runs"] == "4"
    client.force_login(contractor)
    assert figures(client, "acme")["Runs"] == "1"


def test_a_run_that_ends_shows_at_once_and_an_unchanged_org_is_not_read_again(signed_in, alice, acme, agent, now):
    run = run_of(make_schedule(acme, agent, now=now - timedelta(hours=2)), "running", at=now - timedelta(minutes=5))
    client = signed_in(alice)
    assert figures(client, "acme")["Success rate"] == "—"
    ScheduleRun.objects.filter(pk=run.pk).update(status="success", finished_at=now - timedelta(minutes=1))
    assert figures(client, "acme")["Success rate"] == "100%", "same minute, new runs state: read again"
    with CaptureQueriesContext(connection) as captured:
        assert figures(client, "acme")["Success rate"] == "100%"
    window_reads = [q["sql"] for q in captured if "schedule_runs" in q["sql"] and '"created_at" >=' in q["sql"]]
    assert window_reads == [], "nothing changed: the summary came from the cache"

"""The schedule list: tenancy, filters, keyset pages, cost per page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import ScheduleRun
from schedules.models import Schedule
from tests.api.conftest import API, assert_error
from tests.constants import T0
from tests.factories import make_agent, make_run, make_schedule, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock

# --- list -------------------------------------------------------------------------------


def test_list_shows_only_schedules_of_orgs_the_user_reads(api, alice, mallory, schedule, globex_schedule):
    ids = [row["id"] for row in api(alice).get(f"{API}/schedules/").json()["results"]]
    assert ids == [str(schedule.pk)]
    ids = [row["id"] for row in api(mallory).get(f"{API}/schedules/").json()["results"]]
    assert ids == [str(globex_schedule.pk)]


def test_superuser_lists_every_org(api, schedule, globex_schedule):
    root = make_user("root", superuser=True, password="pw")
    ids = {row["id"] for row in api(root).get(f"{API}/schedules/").json()["results"]}
    assert ids == {str(schedule.pk), str(globex_schedule.pk)}


def test_list_row_carries_status_description_and_timing(api, alice, schedule):
    row = api(alice).get(f"{API}/schedules/").json()["results"][0]
    assert row["org"] == "acme" and row["agent"] == "echo"
    assert row["status"] == "ok"
    assert row["cron_expression"] == "0 9 * * *"
    assert row["timing_description"].startswith("At 09:00")
    assert row["next_run_at"] == "2026-12-01T09:00:00Z"
    assert row["last_run_at"] is None


def test_list_filters(api, alice, acme, agent):
    other_agent = make_agent(acme, "sales-analyst")
    a = make_schedule(acme, agent, name="Daily digest")
    b = make_schedule(acme, other_agent, name="Sales report", description="for the board")
    c = make_schedule(acme, agent, name="Old", enabled=False)
    Schedule.objects.filter(pk=b.pk).update(consecutive_failures=2)
    client = api(alice)

    def ids(query):
        response = client.get(f"{API}/schedules/?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("agent=sales-analyst") == {str(b.pk)}
    assert ids("enabled=false") == {str(c.pk)}
    assert ids("enabled=true") == {str(a.pk), str(b.pk)}
    assert ids("status=failing") == {str(b.pk)}
    assert ids("status=ok") == {str(a.pk)}
    assert ids("status=disabled") == {str(c.pk)}
    assert ids("q=BOARD") == {str(b.pk)}
    assert ids("q=digest") == {str(a.pk)}
    assert ids("org=acme") == {str(a.pk), str(b.pk), str(c.pk)}
    assert ids("org=globex") == set()


@pytest.mark.parametrize("query, field", [("status=broken", "status"), ("enabled=maybe", "enabled")])
def test_list_rejects_an_unreadable_filter(api, alice, query, field):
    assert_error(api(alice).get(f"{API}/schedules/?{query}"), 400, "invalid", field)


def test_cursor_pages_walk_every_row_once_newest_first(api, alice, acme, agent):
    created = [make_schedule(acme, agent, now=T0 - timedelta(minutes=i), name=f"s{i}") for i in range(7)]
    client = api(alice)
    url, seen = f"{API}/schedules/?page_size=3", []
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [row["name"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == [s.name for s in created]
    assert pages == 3


def test_cursor_pages_are_exact_when_rows_share_a_created_at(api, alice, acme, agent):
    # Bulk creation writes many rows in one instant: the id breaks the tie, nothing repeats.
    created = {str(make_schedule(acme, agent, name=f"s{i}").pk) for i in range(5)}
    client = api(alice)
    url, seen = f"{API}/schedules/?page_size=2", []
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(created) and len(seen) == 5


def test_previous_link_returns_the_page_before(api, alice, acme, agent):
    for i in range(5):
        make_schedule(acme, agent, now=T0 - timedelta(minutes=i), name=f"s{i}")
    client = api(alice)
    first = client.get(f"{API}/schedules/?page_size=2").json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [r["name"] for r in second["results"]] == ["s2", "s3"]
    back = client.get(second["previous"]).json()
    assert [r["name"] for r in back["results"]] == ["s0", "s1"]
    assert back["previous"] is None and back["next"]


@pytest.mark.parametrize("query, field", [("cursor=garbage", "cursor"), ("page_size=0", "page_size"),
                                          ("page_size=201", "page_size"), ("page_size=x", "page_size")])
def test_bad_paging_parameters_are_400(api, alice, schedule, query, field):
    assert_error(api(alice).get(f"{API}/schedules/?{query}"), 400, "invalid", field)


def test_fast_schedule_representation_equals_drfs_generic_one(acme, agent, alice):
    from rest_framework import serializers

    from audit.services import Actor
    from schedules.api.serializers import ScheduleSerializer, for_list

    make_schedule(
        acme, agent, actor=Actor(user=alice), schedule_type="interval", interval_seconds=3600,
        start_at=T0 + timedelta(microseconds=123456), end_at=T0 + timedelta(days=30), params={"a": [1, {"b": None}]},
    )
    make_schedule(acme, agent, schedule_type="once", run_at=T0 + timedelta(hours=5), enabled=False)
    rows = list(for_list(Schedule.objects.all()))
    rows += list(Schedule.objects.all())  # without the annotations: slugs and names from the related rows
    for schedule in rows:
        fast = ScheduleSerializer(schedule).data
        generic = serializers.Serializer.to_representation(ScheduleSerializer(), schedule)
        assert dict(fast) == dict(generic)
        assert list(fast) == list(generic)  # same keys, same order


@pytest.mark.parametrize(
    "path",
    ["/schedules/", "/schedules/{schedule}/runs/", "/audit-events/"],
)
def test_lists_cost_the_same_queries_for_5_or_25_rows(api, alice, acme, agent, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.models import RunStatus

    schedule = make_schedule(acme, agent)
    client = api(alice)
    client.get(API + path.format(schedule=schedule.pk))  # warm the per-process ContentType cache

    def count(rows):
        while Schedule.objects.count() < rows:
            make_schedule(acme, agent, name=f"s{Schedule.objects.count()}")
        while ScheduleRun.objects.count() < rows:
            make_run(schedule, status=RunStatus.SUCCESS, at=T0 + timedelta(seconds=ScheduleRun.objects.count()))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(API + path.format(schedule=schedule.pk))
        assert response.status_code == 200 and len(response.json()["results"]) >= rows
        return len(queries)

    small, large = count(5), count(25)
    assert small == large
    assert large <= 6  # token, memberships, object grants, page (+ schedule lookup for runs)

"""The audit-events endpoint: visibility by org, filters, order, detail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from tests.api.conftest import API, assert_error
from tests.constants import T0
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def history(api, alice, eddie, schedule, fake_clock):
    """create (system, T0), update by eddie (T0+1h), disable by alice (T0+2h)."""
    fake_clock.advance(hours=1)
    api(eddie).patch(f"{API}/schedules/{schedule.pk}/", {"name": "Renamed"}, format="json")
    fake_clock.advance(hours=1)
    api(alice).post(f"{API}/schedules/{schedule.pk}/disable/")
    return schedule


def _actions(response):
    assert response.status_code == 200, response.json()
    return [event["action"] for event in response.json()["results"]]


def test_lists_newest_first_with_the_change(api, victor, history):
    body = api(victor).get(f"{API}/audit-events/").json()
    assert [e["action"] for e in body["results"]] == ["disable", "update", "create"]
    update = body["results"][1]
    assert update["actor"] == "eddie" and update["org"] == "acme" and update["schedule"] == str(history.pk)
    assert update["before"] == {"name": "Acme nightly"} and update["after"] == {"name": "Renamed"}
    assert update["target_type"] == "schedule" and update["request_id"]
    assert update["client_ip"] is None, "where members work from is for admins"


@pytest.mark.parametrize("role, sees_ip", [("admin", True), ("editor", False), ("operator", False), ("viewer", False)])
def test_client_ip_is_shown_to_the_orgs_admins_only(api, personas, history, role, sees_ip):
    (event,) = api(personas[role]).get(f"{API}/audit-events/?action=update").json()["results"]
    assert event["client_ip"] == ("127.0.0.1" if sees_ip else None)
    one = api(personas[role]).get(f"{API}/audit-events/{event['id']}/").json()
    assert one["client_ip"] == event["client_ip"]


def test_a_webhook_url_in_the_trail_is_masked_even_in_events_stored_before_masking(api, alice, victor, acme):
    """Events written before the fix hold the whole URL: the API masks them on the way out."""
    from runs.models import AlertChannel

    channel = AlertChannel.objects.create(org=acme, kind="webhook", name="Slack", target="https://hooks.slack.com/services/T0/B0/s3cr3t",
                                          created_at=T0, updated_at=T0)
    AuditEvent.objects.create(org=acme, actor_label="alice", action="create", target_type="alertchannel", target_id=str(channel.pk),
                              after={"kind": "webhook", "name": "Slack", "target": channel.target}, created_at=T0)
    for user in (alice, victor):
        (event,) = api(user).get(f"{API}/audit-events/").json()["results"]
        assert event["after"]["target"] == "https://hooks.slack.com/***"


def test_events_in_the_same_instant_list_the_later_first(api, olga, schedule):
    client = api(olga)
    client.post(f"{API}/schedules/{schedule.pk}/run-now/", HTTP_IDEMPOTENCY_KEY="a")
    client.post(f"{API}/schedules/{schedule.pk}/run-now/", HTTP_IDEMPOTENCY_KEY="b")
    ids = [e["id"] for e in client.get(f"{API}/audit-events/").json()["results"]]
    assert ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("actor=eddie", ["update"]),
        ("actor=system", ["create"]),
        ("action=disable", ["disable"]),
        ("since=2026-12-01T01:00:00Z", ["disable", "update"]),
        ("until=2026-12-01T01:00:00Z", ["create"]),
        ("since=2026-12-01T00:30:00Z&until=2026-12-01T01:30:00Z", ["update"]),
    ],
)
def test_filters(api, victor, history, query, expected):
    assert _actions(api(victor).get(f"{API}/audit-events/?{query}")) == expected


def test_filter_by_schedule(api, alice, acme, agent, history):
    other = make_schedule(acme, agent, name="Other")
    assert _actions(api(alice).get(f"{API}/audit-events/?schedule={other.pk}")) == ["create"]
    assert len(_actions(api(alice).get(f"{API}/audit-events/?schedule={history.pk}"))) == 3


@pytest.mark.parametrize(
    "query, field",
    [("since=yesterday", "since"), ("action=explode", "action"), ("schedule=42", "schedule"),
     ("until=0001-01-01T00:00:00%2B14:00", "until")],
)
def test_bad_filters_are_400(api, victor, query, field):
    assert_error(api(victor).get(f"{API}/audit-events/?{query}"), 400, "invalid", field)


def test_another_orgs_events_are_invisible(api, mallory, history, globex_schedule):
    events = api(mallory).get(f"{API}/audit-events/").json()["results"]
    assert {e["schedule"] for e in events} == {str(globex_schedule.pk)}
    acme_event = AuditEvent.objects.filter(org__slug="acme").first()
    assert_error(api(mallory).get(f"{API}/audit-events/{acme_event.pk}/"), 404, "not_found")


def test_detail(api, victor, history):
    event = AuditEvent.objects.get(action="update")
    body = api(victor).get(f"{API}/audit-events/{event.pk}/").json()
    assert body["id"] == event.pk and body["action"] == "update"


def test_events_of_a_deleted_schedule_stay_readable(api, alice, history, fake_clock):
    fake_clock.advance(hours=1)
    assert api(alice).delete(f"{API}/schedules/{history.pk}/").status_code == 204
    assert _actions(api(alice).get(f"{API}/audit-events/?schedule={history.pk}")) == [
        "delete", "disable", "update", "create",
    ]


def test_paging_through_events(api, alice, acme, agent):
    for i in range(5):
        make_schedule(acme, agent, now=T0 + timedelta(minutes=i), name=f"s{i}")
    client = api(alice)
    first = client.get(f"{API}/audit-events/?page_size=2").json()
    rest = client.get(first["next"]).json()
    last = client.get(rest["next"]).json()
    names = [e["after"]["name"] for page in (first, rest, last) for e in page["results"]]
    assert names == ["s4", "s3", "s2", "s1", "s0"] and last["next"] is None

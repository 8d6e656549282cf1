"""What one org writes never shows up in another org's answers, caches included."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, VALID_SCHEDULE
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

PARIS = {**VALID_SCHEDULE, "cron_expression": "17 3 * * *", "timezone": "Europe/Paris"}
# Org acme's private window (local Paris times 2027-02-01 10:00 to 2027-06-30 12:00).
WINDOW = {"start_at": "2027-02-01T09:00:00Z", "end_at": "2027-06-30T10:00:00Z"}


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def create(client, body) -> dict:
    response = client.post(f"{API}/schedules/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.parametrize("windowed_first", [True, False])
def test_same_expression_in_two_orgs_is_described_with_each_orgs_own_window(
    api, alice, mallory, agent, globex, windowed_first
):
    make_agent(globex, "echo")
    acme_client, globex_client = api(alice), api(mallory)
    if windowed_first:
        acme = create(acme_client, {**PARIS, **WINDOW})
        globex_row = create(globex_client, PARIS)
    else:
        globex_row = create(globex_client, PARIS)
        acme = create(acme_client, {**PARIS, **WINDOW})

    assert "2027-02-01 10:00" in acme["timing_description"]
    assert "2027-06-30 12:00" in acme["timing_description"]
    assert "2027" not in globex_row["timing_description"], globex_row["timing_description"]

    # The same on every later read (detail and list), in either order.
    globex_list = globex_client.get(f"{API}/schedules/").json()["results"]
    assert [row["timing_description"] for row in globex_list] == [globex_row["timing_description"]]
    acme_detail = acme_client.get(f"{API}/schedules/{acme['id']}/").json()
    assert acme_detail["timing_description"] == acme["timing_description"]


def test_a_changed_window_changes_the_description(api, alice, agent):
    client = api(alice)
    row = create(client, {**PARIS, **WINDOW})
    response = client.patch(f"{API}/schedules/{row['id']}/", {"start_at": None, "end_at": None}, format="json")
    assert response.status_code == 200, response.json()
    assert "2027" not in response.json()["timing_description"]

"""`/metrics`: Prometheus' text format from the database, read back with prometheus_client's
own parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from runs.metrics import prometheus
from runs.models import RunStatus
from schedules.models import Schedule
from tests.factories import make_heartbeat, make_run
from tests.runs.metrics_data import NOW, populate

TOKEN = "s3cret-scrape-token"
BOUNDED_LABELS = {"org", "status", "trigger", "state", "replica", "le", "cause"}


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def data(acme, agent, globex, fake_clock):
    fake_clock.set(NOW)
    return populate(acme, agent, globex)


def scrape(client) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(family, name=None) -> dict:
    return {
        tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name
    }


def test_off_without_a_token_setting(client, settings, data):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_a_missing_or_wrong_token_is_refused(client, metrics_on, data):
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_runs_by_org_status_and_trigger(client, metrics_on, data):
    runs = samples(scrape(client)["agent_schedules_runs"], "agent_schedules_runs_total")
    assert runs[(("org", "acme"), ("status", "success"), ("trigger", "scheduled"))] == 3
    assert runs[(("org", "acme"), ("status", "timeout"), ("trigger", "manual"))] == 1
    assert runs[(("org", "globex"), ("status", "failed"), ("trigger", "scheduled"))] == 1


def test_duration_histogram_per_org(client, metrics_on, data):
    family = scrape(client)["agent_schedules_run_duration_seconds"]
    assert family.type == "histogram"
    buckets = samples(family, "agent_schedules_run_duration_seconds_bucket")
    acme_le = {dict(k)["le"]: v for k, v in buckets.items() if dict(k)["org"] == "acme"}
    # acme ran 5, 10, 20, 30 and 100 s (the skipped run has no duration).
    assert (acme_le["5.0"], acme_le["15.0"], acme_le["30.0"], acme_le["120.0"], acme_le["+Inf"]) == (1, 2, 4, 5, 5)
    assert samples(family, "agent_schedules_run_duration_seconds_sum")[(("org", "acme"),)] == 165
    assert samples(family, "agent_schedules_run_duration_seconds_count")[(("org", "acme"),)] == 5


def test_schedules_by_state_queue_and_lag(client, metrics_on, data, fake_clock):
    nightly, hourly, _ = data
    Schedule.objects.update(next_run_at=NOW + timedelta(hours=1))
    Schedule.objects.filter(pk=hourly.pk).update(enabled=False, next_run_at=None)
    Schedule.objects.filter(pk=nightly.pk).update(next_run_at=NOW - timedelta(seconds=90))
    make_run(nightly, at=NOW)  # queued
    families = scrape(client)
    states = samples(families["agent_schedules_schedules"])
    assert states[(("org", "acme"), ("state", "enabled"))] == 1
    assert states[(("org", "acme"), ("state", "disabled"))] == 1
    assert samples(families["agent_schedules_runs_queued"]) == {(("org", "acme"),): 1}
    assert samples(families["agent_schedules_oldest_due_lag_seconds"]) == {(): 90}
    fake_clock.advance(seconds=30)  # still not fired: the lag grows with the clock
    assert samples(scrape(client)["agent_schedules_oldest_due_lag_seconds"]) == {(): 120}


def test_heartbeat_age_per_live_replica_and_of_the_freshest(client, metrics_on, data):
    make_heartbeat("web-1-42", at=NOW - timedelta(seconds=3))
    make_heartbeat("web-2-77", at=NOW - timedelta(seconds=40))
    make_heartbeat("gone-9", at=NOW - timedelta(days=2))  # a restarted process's old row
    families = scrape(client)
    ages = samples(families["agent_schedules_scheduler_heartbeat_age_seconds"])
    assert ages == {(("replica", "web-1-42"),): 3, (("replica", "web-2-77"),): 40}
    assert samples(families["agent_schedules_scheduler_last_heartbeat_age_seconds"]) == {(): 3}


def test_a_replica_that_stopped_cleanly_is_not_listed_and_one_that_vanished_counts_as_stale(
    client, metrics_on, data, settings
):
    settings.SCHEDULER_STALL_SECONDS = 120
    make_heartbeat("new-1", at=NOW - timedelta(seconds=3))
    make_heartbeat("old-1", at=NOW - timedelta(minutes=5), stopped_at=NOW - timedelta(minutes=5))
    make_heartbeat("lost-1", at=NOW - timedelta(minutes=5))  # killed: no clean stop
    families = scrape(client)
    ages = samples(families["agent_schedules_scheduler_heartbeat_age_seconds"])
    assert ages == {(("replica", "new-1"),): 3, (("replica", "lost-1"),): 300}
    replicas = samples(families["agent_schedules_scheduler_replicas"])
    assert replicas == {(("state", "fresh"),): 1, (("state", "stale"),): 1}


def test_no_heartbeat_ever_reads_as_infinitely_old(client, metrics_on, data):
    age = samples(scrape(client)["agent_schedules_scheduler_last_heartbeat_age_seconds"])[()]
    assert age == float("inf")


def test_labels_stay_bounded(client, metrics_on, data):
    make_heartbeat("web-1-42", at=NOW)
    for family in scrape(client).values():
        for sample in family.samples:
            assert set(sample.labels) <= BOUNDED_LABELS, (sample.name, sample.labels)


def test_other_parts_add_families_through_the_hook(client, metrics_on, data):
    def extra(now):
        yield GaugeMetricFamily("agent_schedules_extra_example", "An added family.", value=2)

    prometheus.register_family(extra)
    try:
        assert samples(scrape(client)["agent_schedules_extra_example"]) == {(): 2}
    finally:
        prometheus._extra_families.remove(extra)


def test_open_alerts_by_org_and_cause(client, metrics_on, data, acme, globex):
    from runs.models import Alert, AlertCause, AlertState

    Alert.objects.create(org=acme, cause=AlertCause.SCHEDULER_STALLED, opened_at=NOW)
    Alert.objects.create(org=globex, cause=AlertCause.SCHEDULER_STALLED, opened_at=NOW)
    Alert.objects.create(org=globex, cause=AlertCause.TEST, opened_at=NOW, state=AlertState.RESOLVED)
    assert samples(scrape(client)["agent_schedules_alerts_open"]) == {
        (("cause", "scheduler_stalled"), ("org", "acme")): 1,
        (("cause", "scheduler_stalled"), ("org", "globex")): 1,
    }


def test_status_vocabulary_is_the_models(client, metrics_on, data):
    statuses = {dict(k)["status"] for k in samples(scrape(client)["agent_schedules_runs"])}
    assert statuses <= set(RunStatus.values)

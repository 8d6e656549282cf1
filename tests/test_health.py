"""/healthz and /readyz (config/health.py): what a load balancer and Kubernetes probes see."""

from __future__ import annotations

import pytest
from django.db.migrations.recorder import MigrationRecorder


def test_healthz_answers_without_login_or_database(client):
    # No database fixture: pytest-django fails any query, so a database outage cannot make
    # the liveness probe restart every web process.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers_and_is_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_not_applied(client):
    # As on a rolling upgrade where the new code starts before its migration Job has run.
    applied = MigrationRecorder.Migration.objects.filter(app="runs").order_by("-name").first()
    applied.delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "1 database migration(s) not applied" in body["reason"] and "manage.py migrate" in body["reason"]


@pytest.mark.django_db
def test_health_endpoints_answer_only_reads(client):
    # A probe never changes anything; a POST is a mistake, and says so.
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
    assert client.head("/readyz").status_code == 200

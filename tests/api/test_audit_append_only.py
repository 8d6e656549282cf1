"""The audit trail cannot be changed: the ORM refuses, and on PostgreSQL so does the database."""

from __future__ import annotations

import importlib

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import Actor
from schedules.models import Organization, Schedule
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db

trigger_migration = importlib.import_module("audit.migrations.0002_append_only_trigger")


@pytest.fixture
def event(acme, agent, alice):
    make_schedule(acme, agent, actor=Actor(user=alice))
    return AuditEvent.objects.get(action="create")


def test_orm_refuses_queryset_update_and_delete(event):
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="delete")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "create"


def test_orm_refuses_saving_or_deleting_an_instance(event):
    event.action = "delete"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "create"


def _raw(sql, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_postgres_refuses_raw_update(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET action = 'delete' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET after = NULL, org_id = NULL WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "create"


@pytest.mark.postgres
def test_postgres_refuses_raw_delete(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_deleting_an_org_or_a_user_detaches_their_events_instead_of_failing(event, acme, alice):
    # org and actor are ON DELETE SET NULL: the only UPDATE the trigger lets through.
    alice.delete()
    Schedule.objects.filter(org=acme).delete()
    Organization.objects.filter(pk=acme.pk).delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.org_id is None and kept.actor_id is None
    assert kept.actor_label == "alice" and kept.action == "create" and kept.after == event.after


@pytest.mark.postgres
def test_trigger_migration_reverses_and_reapplies(event):
    with connection.schema_editor() as editor:
        trigger_migration.uninstall(None, editor)
    _raw("UPDATE audit_auditevent SET request_id = 'edited' WHERE id = %s", [event.pk])  # no trigger now
    with connection.schema_editor() as editor:
        trigger_migration.install(None, editor)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET request_id = 'again' WHERE id = %s", [event.pk])


def test_trigger_migration_only_touches_postgresql(event):
    class RecordingEditor:
        def __init__(self, vendor):
            self.connection = type("Connection", (), {"vendor": vendor})()
            self.executed = []

        def execute(self, sql):
            self.executed.append(sql)

    sqlite, postgres = RecordingEditor("sqlite"), RecordingEditor("postgresql")
    for editor in (sqlite, postgres):
        trigger_migration.install(None, editor)
        trigger_migration.uninstall(None, editor)
    assert sqlite.executed == []
    assert "BEFORE UPDATE OR DELETE" in postgres.executed[0] and "DROP TRIGGER" in postgres.executed[1]

"""Migrations apply on an empty database, a second migrate applies nothing, each app reverses
to zero and forward again, and the models match the migrations (makemigrations --check).

The in-process tests run on whichever database the suite uses (PostgreSQL under `make test`,
SQLite in the fast pass); the fresh-database tests build their own empty database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

ROOT = Path(__file__).resolve().parent.parent
OUR_APPS = ["audit", "runs", "schedules"]  # dependents first


def pending_plan():
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def tables() -> set[str]:
    return set(connection.introspection.table_names())


def app_tables(app_label: str) -> set[str]:
    from django.apps import apps

    return {m._meta.db_table for m in apps.get_app_config(app_label).get_models()}


@pytest.mark.django_db(transaction=True)
def test_second_migrate_applies_nothing():
    assert pending_plan() == []
    out = StringIO()
    call_command("migrate", verbosity=1, stdout=out)
    assert "No migrations to apply" in out.getvalue()
    assert pending_plan() == []


@pytest.mark.django_db(transaction=True)
def test_makemigrations_check_is_clean():
    out = StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, verbosity=1)
    except SystemExit as exc:  # --check exits 1 when the models drifted from the migrations
        pytest.fail(f"models and migrations differ:\n{out.getvalue()}\n(exit {exc.code})")
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("app_label", OUR_APPS)
def test_app_reverses_to_zero_and_forward_again(app_label):
    expected = app_tables(app_label)
    assert expected <= tables()
    try:
        call_command("migrate", app_label, "zero", verbosity=0)
        assert not (expected & tables()), f"{app_label} left tables behind"
        assert pending_plan() != []
    finally:
        # Put the schema back even when an assertion failed, or every later test breaks.
        call_command("migrate", verbosity=0)
    assert expected <= tables()
    assert pending_plan() == []


@pytest.mark.django_db(transaction=True)
def test_all_our_apps_reverse_together_and_forward_again():
    ours = set().union(*(app_tables(a) for a in OUR_APPS))
    try:
        for app_label in OUR_APPS:
            call_command("migrate", app_label, "zero", verbosity=0)
        assert not (ours & tables())
    finally:
        call_command("migrate", verbosity=0)
    assert ours <= tables()
    assert pending_plan() == []


# --- a truly empty database, migrated by a separate process --------------------------------


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def assert_migrates_twice(database_url: str) -> None:
    first = manage("migrate", "--no-input", database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "Applying schedules.0001_initial... OK" in first.stdout
    second = manage("migrate", "--no-input", database_url=database_url)
    assert second.returncode == 0, second.stderr
    assert "No migrations to apply" in second.stdout
    check = manage("makemigrations", "--check", "--dry-run", database_url=database_url)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_empty_sqlite_database_migrates_and_a_second_migrate_is_a_no_op(tmp_path):
    assert_migrates_twice(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_empty_postgres_database_migrates_and_a_second_migrate_is_a_no_op():
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    settings_dict = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or "5432"
        password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
        assert_migrates_twice(f"postgres://{settings_dict['USER']}{password}@{host}:{port}/{name}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

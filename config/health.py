"""Health endpoints for load balancers and orchestrators (docs/deploy.md, "Health").

`/healthz`: the process answers (liveness); it touches no database, so a database outage does
not get every web process restarted. `/readyz`: the database answers and every migration this
code knows is applied (readiness): a new version started before its migrations ran gets no
traffic. Neither needs a login, reads tenant data, is throttled (they are not API views), or
writes an access-log line when healthy (gunicorn.conf.py).
"""

from __future__ import annotations

import structlog
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = structlog.get_logger("config.health")


def _answer(http_status: int, **body) -> JsonResponse:
    response = JsonResponse(body, status=http_status)
    # A not-ready answer is logged once here with its reason; Django's own "Service
    # Unavailable" line per probe would only repeat it.
    response._has_been_logged = True
    return response


@never_cache
@require_safe
def healthz(request):
    return _answer(200, status="ok")


def unapplied_migrations() -> list[str]:
    """`app.name` of each migration in the code that the database has not applied."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


@never_cache
@require_safe
def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = unapplied_migrations()
    except DatabaseError as exc:
        # The reason the caller sees is short and names no host; the log line has the detail.
        log.warning("health.not_ready", reason="database_unreachable", error=str(exc).strip()[:300])
        return _answer(503, status="unavailable", reason="The database does not answer.")
    if pending:
        log.warning("health.not_ready", reason="migrations_pending", pending=pending[:10], count=len(pending))
        return _answer(
            503,
            status="unavailable",
            reason=f"{len(pending)} database migration(s) not applied yet: run `manage.py migrate`.",
        )
    return _answer(200, status="ok")

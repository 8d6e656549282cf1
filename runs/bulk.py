"""Writing runs, and every statement that writes many rows at once.

`run_values` says what a new run holds: the schedule's request copied at that moment (editing
a schedule never rewrites history) and the fields derived from the run's status. Two paths
write those values, and neither restates them:

- the ORM (`ScheduleRun(**run_values(...))` then `insert_runs`): SQLite, and single runs
  (run-now, retries) everywhere;
- on PostgreSQL, firing's batches (`insert_run_values`): one `INSERT ... SELECT FROM
  unnest(...)` per batch, each column bound as one array literal (`pg_array`), or as one
  value when every run of the batch holds the same.

The other batch statements (advancing the fired schedules, recording the plane's answers)
are here too, each with what replaces it on SQLite. Table and column names come from the
models' `_meta`, so a renamed table or column cannot leave a statement behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import connection, connections
from django.db.models import BooleanField, DateTimeField, F, Func, JSONField, Model, Q
from django.db.models.sql.subqueries import UpdateQuery

from runs import rows
from runs.models import ACTIVE_STATUSES, RunStatus, ScheduleRun, TriggerType
from runs.services.ids import attempt_job_run_id, scheduled_occurrence_key
from schedules import variables


def run_values(
    *,
    schedule,
    scheduled_for: datetime,
    now: datetime,
    job_run_id: str | None = None,
    occurrence_key: str | None = None,
    trigger_type: str = TriggerType.SCHEDULED,
    attempt: int = 1,
    retry_of: ScheduleRun | None = None,
    not_before: datetime | None = None,
    status: str = RunStatus.QUEUED,
    missed_count: int = 0,
    error_code: str = "",
    error_message: str = "",
    triggered_by=None,
    calendar_note: str = "",
) -> dict:
    """Every column of a new run but its id, by attribute name (`ScheduleRun(**values)` builds it).

    Every column is named here, defaults included: the batch statement writes exactly these
    (tests/runs/test_bulk.py fails if a new column is missing). `schedule.agent` should be
    loaded (select_related) when building many. A run created in a final state (skipped) is
    finished when it is written.

    Ids: without `job_run_id` the run is `attempt` of a scheduled occurrence (or of
    `occurrence_key`, for a retry) and its id is derived; a run given its own id and no key
    (run-now) is its own occurrence.
    """
    if job_run_id is None:
        occurrence_key = occurrence_key or scheduled_occurrence_key(schedule.pk, scheduled_for)
        job_run_id = attempt_job_run_id(occurrence_key, attempt)
    elif occurrence_key is None:
        occurrence_key = job_run_id
    # The prompt is sent resolved: its variables read at this occurrence, in the schedule's zone.
    prompt, values = variables.resolve(schedule.prompt, at=scheduled_for, timezone=schedule.timezone)
    return dict(
        job_run_id=job_run_id,
        occurrence_key=occurrence_key,
        schedule_id=schedule.pk,
        org_id=schedule.org_id,
        trigger_type=trigger_type,
        attempt=attempt,
        retry_of_id=retry_of.pk if retry_of is not None else None,
        scheduled_for=scheduled_for,
        status=status,
        not_before=not_before,
        queued_at=now,
        finished_at=None if status in ACTIVE_STATUSES else now,
        missed_count=missed_count,
        error_code=error_code,
        error_message=error_message,
        agent_slug=schedule.agent.slug,
        prompt=prompt,
        output_type=schedule.output_type,
        params=schedule.params,
        variables=values,
        calendar_note=calendar_note,
        triggered_by_id=triggered_by.pk if triggered_by is not None else None,
        created_at=now,
        # Filled in by dispatch and by the plane's answer.
        started_at=None,
        session_id="",
        message_id="",
        outputs=[],
        answer="",
        input_tokens=None,
        output_tokens=None,
        total_tokens=None,
        cost_usd=None,
        lease_owner="",
        lease_expires_at=None,
    )


def insert_runs(runs: list[ScheduleRun]) -> set[str]:
    """Insert through the ORM, skipping any whose job_run_id exists (ON CONFLICT DO NOTHING).

    Returns the job_run_ids this call actually wrote. Never raises on a collision, so a
    race between replicas never reaches the scheduler loop.
    """
    if not runs:
        return set()
    ScheduleRun.objects.bulk_create(runs, ignore_conflicts=True)
    ids = {run.pk for run in runs}
    # Ours were written iff the row under that job_run_id carries the id we generated.
    written = ScheduleRun.objects.filter(pk__in=ids).values_list("job_run_id", flat=True)
    return set(written)


def insert_run_values(rows: list[dict]) -> set[str]:
    """Insert many runs given as `run_values`, as `insert_runs` does; returns the ids written.

    On PostgreSQL one statement writes the batch and returns what it wrote: building 500
    model instances and binding 13,000 separate parameters through the ORM cost more than all
    the rest of a firing batch.
    """
    if not rows:
        return set()
    if connection.vendor != "postgresql":
        return insert_runs([ScheduleRun(**row) for row in rows])
    job_run_id = ScheduleRun._meta.get_field("job_run_id")
    # A field that `run_values` does not name (one added later, with a default) gets its default,
    # as the ORM path gives it (asked once per column: not per cell, as `.get(name, default())`).
    columns = [
        [row[f.attname] for row in rows] if f.attname in rows[0] else [f.get_default() for _ in rows] for f in _RUN_FIELDS
    ]
    bound = _bind(_RUN_FIELDS, columns, key=job_run_id)
    run = _names(ScheduleRun)
    columns = ", ".join(_quote(f.column) for f in _RUN_FIELDS)
    values = ", ".join(bound.value[f.attname] for f in _RUN_FIELDS)
    # The id has no default in the database (Django fills it in Python): generated here.
    sql = (
        f"INSERT INTO {run.table} ({run.id}, {columns}) SELECT gen_random_uuid(), {values} FROM {bound.source}"
        f" ON CONFLICT ({run.job_run_id}) DO NOTHING RETURNING {run.job_run_id}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, bound.params)
        return {row[0] for row in cursor.fetchall()}


def update_many(objs: list[Model], fields: list[str]) -> None:
    """Write `fields` of every object (all of one model) in one statement on PostgreSQL."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=250)
        return
    pk = model._meta.pk
    written = [pk, *(model._meta.get_field(name) for name in fields)]
    bound = _bind(written, [[getattr(o, f.attname) for o in objs] for f in written], key=pk)
    assignments = ", ".join(f"{_quote(f.column)} = {bound.value[f.attname]}" for f in written[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_quote(model._meta.db_table)} AS t SET {assignments} FROM {bound.source}"
            f" WHERE t.{_quote(pk.column)} = {bound.value[pk.attname]}",
            bound.params,
        )


def mark_running(accepted: list[tuple], *, poll_after: timedelta, lease_owner: str | None = None) -> int:
    """queued -> running for (run_id, session_id, message_id, started_at, lease_expires_at) answers;
    returns how many moved.

    Conditional on `queued`, so a run a callback finished meanwhile is left alone; a blank
    message_id keeps the stored one. The lease runs out at the run's first poll. With
    `lease_owner`, a row moves only while that owner still holds the lease whose expiry the row
    carries: a release (reconcile) clears it and a new admission writes a later one, so the
    answer to a call that outlived its lease never overwrites what a later dispatch wrote.
    """
    if not accepted:
        return 0
    rows = [(*row, None)[:5] for row in accepted]
    if connection.vendor != "postgresql":
        moved = 0
        for run_id, session_id, message_id, started_at, lease_expires_at in rows:
            runs = ScheduleRun.objects.filter(pk=run_id, status=RunStatus.QUEUED)
            if lease_owner is not None:
                runs = runs.filter(lease_owner=lease_owner, lease_expires_at=lease_expires_at)
            moved += runs.update(
                status=RunStatus.RUNNING, session_id=session_id, started_at=started_at,
                lease_expires_at=started_at + poll_after, **({"message_id": message_id} if message_id else {}),
            )
        return moved
    names = ("id", "session_id", "message_id", "started_at", "lease_expires_at")
    fields = [ScheduleRun._meta.get_field(name) for name in names]
    columns = [list(column) for column in zip(*rows)]
    columns[2] = [message_id or "" for message_id in columns[2]]
    if lease_owner is None:
        fields, columns = fields[:4], columns[:4]
    bound = _bind(fields, columns, key=fields[0])
    run, v = _names(ScheduleRun), bound.value
    params = {**bound.params, "running": RunStatus.RUNNING, "queued": RunStatus.QUEUED, "poll_after": poll_after}
    held = ""
    if lease_owner is not None:
        held = f" AND r.{run.lease_owner} = %(owner)s AND r.{run.lease_expires_at} = {v['lease_expires_at']}"
        params["owner"] = lease_owner
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {run.table} AS r SET {run.status} = %(running)s, {run.session_id} = {v['session_id']},"
            f" {run.message_id} = COALESCE(NULLIF({v['message_id']}, ''), r.{run.message_id}),"
            f" {run.started_at} = {v['started_at']}, {run.lease_expires_at} = {v['started_at']} + %(poll_after)s"
            f" FROM {bound.source} WHERE r.{run.id} = {v['id']} AND r.{run.status} = %(queued)s" + held,
            params,
        )
        return cursor.rowcount


def lease_returning(
    runs, *, ids, owner: str, expires_at: datetime, related: dict[str, tuple[str, ...]]
) -> list[ScheduleRun]:
    """Lease those of `ids` still in `runs` (a ScheduleRun queryset) to `owner` until
    `expires_at`; returns the runs it moved, oldest first, with the `related` foreign keys
    loaded with those fields only (`{"org": ("slug",)}`), as `select_related().only()` does.

    On PostgreSQL one statement: the ORM's own UPDATE (so each row's conditions are checked
    again when another transaction changed it meanwhile) in a CTE, its RETURNING joined to the
    related rows, the instances built by `runs.rows`. An UPDATE then a SELECT through the ORM
    cost an admission a second statement and most of its Python time.
    """
    ids = list(ids)
    runs = runs.filter(id_in("id", ids))
    if connection.vendor != "postgresql":
        runs.update(lease_owner=owner, lease_expires_at=expires_at)
        only = [f"{name}__{field}" for name, fields in related.items() for field in fields]
        return list(
            ScheduleRun.objects.select_related(*related)
            .only(*(f.name for f in _ALL_RUN_FIELDS), *only)
            .filter(id_in("id", ids), status=RunStatus.QUEUED, lease_owner=owner, lease_expires_at=expires_at)
            .order_by("created_at", "id")
        )
    query = runs.query.chain(klass=UpdateQuery)
    query.add_update_values({"lease_owner": owner, "lease_expires_at": expires_at})
    query.annotations = {}
    compiler = query.get_compiler(connection=connection)
    compiler.pre_sql_setup()
    update_sql, update_params = compiler.as_sql()
    run = _names(ScheduleRun)
    joins, columns, fields, layout = [], [f"u.{_quote(f.column)}" for f in _ALL_RUN_FIELDS], list(_ALL_RUN_FIELDS), []
    for i, (name, wanted) in enumerate(related.items()):
        fk = ScheduleRun._meta.get_field(name)
        meta = fk.related_model._meta
        # In the model's field order: a partial row is read so (Model.from_db).
        loaded = [f for f in meta.concrete_fields if f.primary_key or f.name in wanted]
        joins.append(f"JOIN {_quote(meta.db_table)} AS r{i} ON r{i}.{_quote(meta.pk.column)} = u.{_quote(fk.column)}")
        layout.append((fk, [f.attname for f in loaded], len(columns)))
        columns += [f"r{i}.{_quote(f.column)}" for f in loaded]
        fields += loaded
    sql = (
        f"WITH u AS ({update_sql} RETURNING {run.table}.*) SELECT {', '.join(columns)} FROM u {' '.join(joins)}"
        f" ORDER BY u.{run.created_at}, u.{run.id}"
    )
    with connection.cursor() as cursor, rows.paused_gc():
        cursor.execute(sql, update_params)
        # The connection object itself: `connection` is a proxy that looks it up on each use.
        found = rows.converted(cursor.fetchall(), fields, connections[connection.alias])
        return rows.build(ScheduleRun, _RUN_NAMES, found, db=connection.alias, related=layout)


def id_in(field: str, ids, *, array_type: str = "uuid") -> Q:
    """`field IN ids` (UUIDs, or `array_type="bigint"` for integer ids), bound on PostgreSQL
    as one array parameter (`field = ANY(array)`): binding hundreds of ids one by one cost
    more than the query itself (each a placeholder for Django to compile and for psycopg to
    find in the query text, which differs with every number of ids).

    `= ANY` rather than `IN (SELECT unnest(...))`: the planner guesses 200 rows for an unnest
    and, with statistics taken before a burst, joined 10,000 runs to 4,000 ids row by row
    (ten seconds); `= ANY` is an index lookup per id, or one hashed test per row.
    """
    ids = list(ids)
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F(field), pg_array(ids), _ARRAY_TYPES[array_type]))
    return Q(**{f"{field}__in": ids})


_ARRAY_TYPES = {"uuid": "uuid[]", "bigint": "bigint[]"}


class _AnyOf(Func):
    """`<column> = ANY(%s::<type>[])`, a condition usable in filter()."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column, array_literal: str, cast: str):
        super().__init__(column)
        self.array_literal = array_literal
        self.cast = cast

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} = ANY(%s::{self.cast})", [*params, self.array_literal]


def pg_array(values) -> str:
    """A PostgreSQL array literal, to bind as one text parameter and cast in SQL.

    psycopg's client-side quoting of a list (or of hundreds of separate parameters) was the
    slowest part of a bulk statement. Every element is quoted, so commas, braces and spaces
    inside are data; None becomes NULL.
    """
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        else:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{text}"')
    return "{" + ",".join(parts) + "}"


_RUN_FIELDS = [f for f in ScheduleRun._meta.concrete_fields if not f.primary_key]
_ALL_RUN_FIELDS = list(ScheduleRun._meta.concrete_fields)
_RUN_NAMES = [f.attname for f in _ALL_RUN_FIELDS]


@dataclass
class _Bound:
    value: dict[str, str]  # attname -> the SQL expression of a row's value
    source: str  # the FROM item: `unnest(...) AS v(...)`, one row per row given
    params: dict


def _bind(fields, columns, *, key) -> _Bound:
    """Many rows' values of `fields` (one list per field, `columns`) bound for one statement.

    Each column is one array literal, unnested as `v`, except a column whose rows all hold
    the same value, bound once: most of a firing batch's columns are (the time, the blank
    fields, often the agent and the request), and quoting hundreds of equal values per
    column cost more than all the rest of writing the batch. `key` is always an array, so
    there is one row per row given.
    """
    value, params, arrays, names = {}, {}, [], []
    for i, (field, column) in enumerate(zip(fields, columns)):
        param, cast, as_text = f"c{i}", field.cast_db_type(connection), _as_text(field)
        if field is not key and column.count(column[0]) == len(column):
            value[field.attname] = f"%({param})s::{cast}"
            params[param] = as_text(column[0])
        else:
            value[field.attname] = f"v.{_quote(field.column)}"
            arrays.append(f"%({param})s::{cast}[]")
            names.append(_quote(field.column))
            params[param] = pg_array(map(as_text, column))
    return _Bound(value=value, source=f"unnest({', '.join(arrays)}) AS v({', '.join(names)})", params=params)


def _as_text(field):
    """How a value of `field` is written in an array literal (`pg_array` str()s the rest)."""
    if isinstance(field, JSONField):
        return lambda value: None if value is None else json.dumps(value, cls=field.encoder)
    if isinstance(field, DateTimeField):
        return lambda value: None if value is None else value.isoformat()
    return _same


def _same(value):
    return value


def _names(model) -> SimpleNamespace:
    """The model's quoted table (`.table`) and column names (by attribute name), for SQL text."""
    columns = {f.attname: _quote(f.column) for f in model._meta.concrete_fields}
    return SimpleNamespace(table=_quote(model._meta.db_table), **columns)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)

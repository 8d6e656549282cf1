"""Model instances from many rows, for the scheduler's bulk steps (a firing batch's schedules,
an admission's runs).

`list(queryset)` builds each instance through Model.__init__ and each `select_related` object
anew: for 500 schedules of one agent, 500 agents. With thousands of rows per step that was a
fifth to a third of firing's and admission's Python time. Here an instance gets its loaded
fields in one step (the others stay deferred, read on use as usual), and a related row many
rows share (their agent, their org) is built once, as `prefetch_related` shares it. Callers
name the fields they read: loading fewer columns is the other half of the saving.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init


def load(queryset, *, fields: list[str], related: dict[str, list[str]] | None = None) -> list[Model]:
    """`list(queryset)`, each instance with `fields` (attnames) loaded and each foreign key
    named in `related` loaded with those fields of its row (its primary key always)."""
    model = queryset.model
    fields = _in_model_order(model, fields)
    layout, lookups, start = [], list(fields), len(fields)
    for name, wanted in (related or {}).items():
        fk = model._meta.get_field(name)
        names = _in_model_order(fk.related_model, [fk.related_model._meta.pk.attname, *wanted])
        layout.append((fk, names, start))
        lookups += [f"{name}__{attname}" for attname in names]
        start += len(names)
    with paused_gc():
        return build(model, fields, queryset.values_list(*lookups), db=queryset.db, related=layout)


def build(model, names: list[str], rows, *, db: str, related=()) -> list[Model]:
    """Instances of `model` (from database `db`) from `rows` whose first values are `names`'
    (converted to Python, as values_list gives them); `related` is [(foreign key, attnames,
    offset in the row)]."""
    width = len(names)
    shared: dict = {}
    built = []
    for row in rows:
        obj = instance(model, db, names, row[:width])
        for fk, attnames, start in related:
            key = (fk.name, row[start])
            target = shared.get(key)
            if target is None:
                target = shared[key] = instance(fk.related_model, db, attnames, row[start : start + len(attnames)])
            fk.set_cached_value(obj, target)
        built.append(obj)
    return built


def instance(model, db: str, names: list[str], values) -> Model:
    """What `model.from_db(db, names, values)` returns, a loaded instance whose fields not in
    `names` are deferred, without Model.__init__'s per-field work. There is nothing else for
    __init__ to do: no signals here (a post_init receiver added later gets the ordinary path)."""
    if post_init.has_listeners(model):
        return model.from_db(db, names, list(values))
    obj = model.__new__(model)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = db
    obj.__dict__.update(zip(names, values))
    return obj


def converted(rows, fields, connection) -> list[list]:
    """Rows read with a plain cursor, each value of `fields` passed through the converters the
    ORM applies (JSON text to objects...), as values_list gives them."""
    converters = []
    for i, field in enumerate(fields):
        col = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if functions:
            converters.append((i, col, functions))
    out = []
    for row in rows:
        row = list(row)
        for i, col, functions in converters:
            value = row[i]
            for function in functions:
                value = function(value, col, connection)
            row[i] = value
        out.append(row)
    return out


@contextmanager
def paused_gc():
    """No cyclic garbage collection while a bulk step builds many objects (rows, instances).

    They are all alive until the step ends, so collecting finds nothing, yet the allocations
    set off full collections that walk every object in the process: a third of the Python
    time of leasing 4,000 runs. Collection resumes after; of two threads pausing at once,
    the first turns it back on.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _in_model_order(model, attnames: list[str]) -> list[str]:
    """`attnames` in the model's field order (Model.from_db reads a partial row so)."""
    wanted = set(attnames)
    return [f.attname for f in model._meta.concrete_fields if f.attname in wanted]

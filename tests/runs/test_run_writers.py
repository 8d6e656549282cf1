"""Who writes runs, as docs/design.md section 10 says, checked on the code's calls:

- new runs are inserted by `runs.bulk` only (`insert_runs`, `insert_run_values`);
- a run's status is changed by the transitions of `runs.services` only (`lifecycle`,
  `ambiguity`), each a conditional UPDATE, and by `bulk.mark_running`, the batch statement of
  lifecycle's `run_mark_running_many`;
- the dispatcher's lease (`lease_owner`, `lease_expires_at`) is written, besides those, by
  `admission` (the claim), `reconcile` (lapsed leases, polls, owed cancels) and `retire`.

`writes_in(root)` is the whole check, so the last test can show it catching a stray writer."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.code_tree import APPS, ROOT, app_files, write_tree

INSERTERS = {"runs/bulk.py"}
STATUS_WRITERS = {"runs/services/lifecycle.py", "runs/services/ambiguity.py", "runs/bulk.py"}
LEASE_WRITERS = STATUS_WRITERS | {"runs/admission.py", "runs/reconcile.py", "runs/retire.py"}
LEASE_FIELDS = {"lease_owner", "lease_expires_at"}
CREATES = {"create", "bulk_create", "get_or_create", "update_or_create"}


def _receiver_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def writes_in(root: Path = ROOT) -> list[str]:
    """Every write of runs outside its documented writers, one line each."""
    found = []
    for app in APPS:
        for path in app_files(root, app):
            name = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                method, keywords = node.func.attr, {k.arg for k in node.keywords}
                if method in CREATES and "ScheduleRun" in _receiver_names(node.func.value) and name not in INSERTERS:
                    found.append(f"{name}:{node.lineno}: inserts runs ({method})")
                if method == "update" and "status" in keywords and name not in STATUS_WRITERS:
                    found.append(f"{name}:{node.lineno}: changes a status")
                if method == "update" and keywords & LEASE_FIELDS and name not in LEASE_WRITERS:
                    found.append(f"{name}:{node.lineno}: writes a lease")
    return found


def test_runs_are_written_by_their_documented_writers_only():
    assert writes_in() == []


def test_the_check_finds_a_stray_writer(tmp_path):
    files = {
        "runs/firing.py": "ScheduleRun.objects.bulk_create(rows)\n",
        "runs/why.py": "runs.filter(pk=1).update(status='failed')\n",
        "automation/views/runs.py": "qs.update(lease_owner='', lease_expires_at=None)\n",
        "runs/reconcile.py": "expired.update(lease_owner='', lease_expires_at=None)\n",
        "runs/services/lifecycle.py": "active.update(status='success')\n",
        "runs/bulk.py": "ScheduleRun.objects.bulk_create(runs, ignore_conflicts=True)\n",
    }
    assert writes_in(write_tree(tmp_path, files)) == [
        "runs/firing.py:1: inserts runs (bulk_create)",
        "runs/why.py:1: changes a status",
        "automation/views/runs.py:1: writes a lease",
    ]

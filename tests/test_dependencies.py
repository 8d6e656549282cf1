"""The dependency rule of docs/design.md section 10, checked on the import statements:
`config` <- `schedules` <- `runs` <- `automation`, `audit` a leaf every app may call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "schedules", "runs", "audit", "automation")

# app -> the apps it must not import
FORBIDDEN = {
    "config": {"schedules", "runs", "audit", "automation"},
    "schedules": {"runs", "automation"},
    "runs": {"automation"},
    "audit": {"runs", "automation"},
}


def imports_of(app: str):
    """(file, imported module) for every import in the app's code, migrations left out."""
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.relative_to(ROOT), alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path.relative_to(ROOT), node.module


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_imports_no_app_above_it(app):
    wrong = [f"{path}: {module}" for path, module in imports_of(app) if module.split(".")[0] in FORBIDDEN[app]]
    assert wrong == []


def test_audit_imports_no_apps_api_code():
    wrong = [
        f"{path}: {module}"
        for path, module in imports_of("audit")
        if module.split(".")[0] in APPS and module.split(".")[0] not in ("audit", "config") and ".api" in module
    ]
    assert wrong == []

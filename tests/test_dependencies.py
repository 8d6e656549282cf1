"""The dependency rule of docs/design.md section 10, checked on the import statements (and, for
audit, on the names in its code):

- `config` <- `schedules` <- `runs` <- `automation`: an app imports no app above it;
- audit's writer (`audit.models`, `audit.services`) is a leaf: it imports no app but `config`,
  so every app may write the trail;
- reading the trail applies the schedules' visibility rule: audit imports `schedules.permissions`
  and nothing else of `schedules`, and no app's API code;
- `schedules` and `runs` import audit's writer only, never its readers (no import cycle);
- audit names no model of `runs` or `automation` (a model says how the trail names it).

`violations(root)` is the whole check, so the last test can show it catching a bad import."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from tests.code_tree import APPS, ROOT, app_files, write_tree

# app -> the apps it must not import
FORBIDDEN = {
    "config": {"schedules", "runs", "audit", "automation"},
    "schedules": {"runs", "automation"},
    "runs": {"automation"},
    "audit": {"runs", "automation"},
}
AUDIT_WRITER = ("audit.models", "audit.services")
AUDIT_MAY_IMPORT_OF_SCHEDULES = ("schedules.permissions",)


def imports_of(app: str, root: Path = ROOT):
    """(file, its dotted name, what it imports) for every absolute import in the app's code,
    migrations left out; a `from m import n` is `m.n`."""
    for path in app_files(root, app):
        relative = path.relative_to(root)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield relative, module, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from audit import services` imports audit.services: each name, under its module
                for alias in node.names:
                    yield relative, module, f"{node.module}.{alias.name}"


def _within(module: str, prefixes) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def foreign_model_names(apps_of: tuple[str, ...] = ("runs", "automation")) -> set[str]:
    """How code names the models of `apps_of`: class name, model name, "app_label.ClassName"."""
    names = set()
    for label in apps_of:
        for model in apps.get_app_config(label).get_models():
            names |= {model.__name__, model._meta.model_name, model._meta.label}
    return names


def names_in(path: Path, names: set[str]):
    """(line, name) for each identifier or string in the file's code that is one of `names`
    (prose in comments and docstrings may speak of "an alert channel")."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name):
            found = node.id
        elif isinstance(node, ast.Attribute):
            found = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found = node.value
        else:
            continue
        if found in names:
            yield node.lineno, found


def violations(root: Path = ROOT, model_names: set[str] | None = None) -> list[str]:
    """Every breach of the rule in the code under `root`, one line each."""
    found = []
    for app in APPS:
        if not (root / app).is_dir():
            continue
        for path, module, imported in imports_of(app, root):
            top = imported.split(".")[0]
            if top in FORBIDDEN.get(app, ()):
                found.append(f"{path}: imports {imported} ({app} is below {top})")
            if app == "audit":
                if _within(module, AUDIT_WRITER) and top in APPS and top not in ("audit", "config"):
                    found.append(f"{path}: imports {imported} (audit's writer imports no app but config)")
                if top == "schedules" and not _within(imported, AUDIT_MAY_IMPORT_OF_SCHEDULES):
                    found.append(f"{path}: imports {imported} (audit reads only schedules.permissions)")
                if top in APPS and top not in ("audit", "config") and ".api" in imported:
                    found.append(f"{path}: imports {imported} (audit imports no app's API code)")
            if app in ("schedules", "runs") and top == "audit" and not _within(imported, AUDIT_WRITER):
                found.append(f"{path}: imports {imported} (below automation, only audit's writer)")
    names = foreign_model_names() if model_names is None else model_names
    for path in app_files(root, "audit"):
        for number, name in names_in(path, names):
            found.append(f"{path.relative_to(root)}:{number}: names {name} (a model of runs or automation)")
    return found


def test_the_code_keeps_the_dependency_rule():
    assert violations() == []


def test_the_check_finds_each_kind_of_breach(tmp_path):
    """A copy of the rule's breaches, one per kind: each is reported, and clean code is not."""
    files = {
        "config/settings_extra.py": "from schedules.models import Schedule\n",
        "schedules/bad.py": "import runs.models\nfrom audit.selectors import shown_changes\n",
        "schedules/good.py": "from audit.services import Actor, record\nfrom config.errors import NotVisible\n",
        "runs/bad.py": "def late():\n    from automation.rows import ScheduleRow\n",
        "audit/services.py": "from schedules.models import Organization\n",
        "audit/selectors.py": "from schedules.permissions import restrict\nfrom schedules.api.views import X\n",
        "audit/models.py": '"""About a ScheduleRun, in prose."""\nkind = "schedulerun"\n',
        "audit/migrations/0001_initial.py": "from runs.models import ScheduleRun\n",
    }
    found = violations(write_tree(tmp_path, files), model_names={"ScheduleRun", "schedulerun"})

    assert found == [
        "config/settings_extra.py: imports schedules.models.Schedule (config is below schedules)",
        "schedules/bad.py: imports runs.models (schedules is below runs)",
        "schedules/bad.py: imports audit.selectors.shown_changes (below automation, only audit's writer)",
        "runs/bad.py: imports automation.rows.ScheduleRow (runs is below automation)",
        "audit/selectors.py: imports schedules.api.views.X (audit reads only schedules.permissions)",
        "audit/selectors.py: imports schedules.api.views.X (audit imports no app's API code)",
        "audit/services.py: imports schedules.models.Organization (audit's writer imports no app but config)",
        "audit/services.py: imports schedules.models.Organization (audit reads only schedules.permissions)",
        "audit/models.py:2: names schedulerun (a model of runs or automation)",
    ]

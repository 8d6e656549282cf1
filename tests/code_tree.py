"""The project's code as the structure checks read it (tests/test_dependencies.py,
tests/runs/test_run_writers.py), and small copies of it that show a check catching a breach."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "schedules", "runs", "audit", "automation")


def app_files(root: Path, app: str):
    """The app's Python files under `root`, migrations left out, in a stable order."""
    return [path for path in sorted((root / app).rglob("*.py")) if "migrations" not in path.parts]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text) under `root`; returns `root`."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root

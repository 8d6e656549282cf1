#!/usr/bin/env bash
# Installs Agent schedules for production: a virtualenv with the project's dependencies, and
# the static files collected for WhiteNoise. The one build step of every deployment: the
# Dockerfile runs it when building the image, and docs/deploy.md runs it on a systemd host
# (in /opt/agent-schedules, as the agent-schedules user). `make run`/`make test` use
# scripts/lib.sh instead (an editable install with the test tools).
#
#   scripts/install.sh            # into ./.venv (VENV=/path to choose; PYTHON=python3.11)
#
# No compiler, gettext or network besides the package index: the translations are compiled
# and committed (locale/*/LC_MESSAGES/django.mo), psycopg comes as a binary wheel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
pip_install() { "$VENV/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "$@"; }

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_install --upgrade pip
# Not editable: the project's own code runs from this folder (manage.py, config.wsgi).
pip_install "$ROOT"

for po in "$ROOT"/locale/*/LC_MESSAGES/django.po; do
  [ -f "${po%.po}.mo" ] || { echo "install.sh: ${po%.po}.mo is missing: the pages would be in English" >&2; exit 1; }
done

cd "$ROOT"
"$VENV/bin/python" manage.py collectstatic --no-input -v 0
echo "install.sh: installed in $VENV; next: manage.py migrate, then gunicorn and run_scheduler (docs/deploy.md)" >&2

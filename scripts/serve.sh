#!/usr/bin/env bash
# `make serve`: a production-like local run. DEBUG off, gunicorn (gunicorn.conf.py) with static
# files from WhiteNoise, and one scheduler; PostgreSQL when DATABASE_URL names one, else the
# SQLite file. Ctrl-C stops both. `make run` stays the development command.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
export DEBUG=false
export LOG_FORMAT="${LOG_FORMAT:-json}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export HOST PORT
export SITE_URL="${SITE_URL:-http://$HOST:$PORT}"

# With DEBUG off the built-in key is refused (project.E001). Without SECRET_KEY in the
# environment, one is generated once and kept in var/ (git-ignored), so sessions survive a
# restart of `make serve`.
if [ -z "${SECRET_KEY:-}" ]; then
  mkdir -p var
  if [ ! -s var/serve-secret-key ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > var/serve-secret-key)
  fi
  SECRET_KEY="$(cat var/serve-secret-key)"
  export SECRET_KEY
fi

case "${DATABASE_URL:-}" in
  postgres://*|postgresql://*|pgsql://*) db="PostgreSQL (DATABASE_URL)" ;;
  "") db="SQLite (db.sqlite3; set DATABASE_URL=postgres://... for PostgreSQL)" ;;
  *) db="DATABASE_URL" ;;
esac

"$PY" manage.py migrate --no-input
"$PY" manage.py collectstatic --no-input -v 0

pids=()
trap stop_children INT TERM EXIT

"$VENV/bin/gunicorn" -c gunicorn.conf.py config.wsgi &
pids+=($!)
"$PY" manage.py run_scheduler &
pids+=($!)

# Say where it is only once it answers (the workers load Django first).
for _ in $(seq 1 60); do
  "$PY" -c "import urllib.request as u; u.urlopen('http://$HOST:$PORT/healthz', timeout=1)" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.5
done

cat <<MSG

  Agent schedules is serving (DEBUG off, gunicorn + one scheduler, $db):
    Pages:     $SITE_URL/automation/schedules/
    API docs:  $SITE_URL/api/v1/docs/
    Health:    $SITE_URL/healthz  and  $SITE_URL/readyz
  Sign in with a user of this database (after \`make run\` on SQLite: demo / demo), or create
  one with: .venv/bin/python manage.py createsuperuser
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"

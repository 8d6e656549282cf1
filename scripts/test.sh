#!/usr/bin/env bash
# `make test`: install what is missing, start a throwaway PostgreSQL, run the whole suite on
# it, then the fast part again on SQLite; the server stops on exit, failure included.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_apt
# The real-server tests of EXECUTION_PLANE=langgraph start `langgraph dev`.
ensure_venv
ensure_langgraph_venv
trap pg_stop EXIT
pg_start

export DJANGO_ALLOW_ASYNC_UNSAFE=true   # Playwright's sync API keeps an event loop running
export PYTHONDONTWRITEBYTECODE=1

run_pytest() {
  # pytest exits 5 when it collects nothing: that is a failure here, as any non-zero exit.
  "$PY" -m pytest "$@"
}

log "whole suite on PostgreSQL"
run_pytest -q "$@"

if [ $# -eq 0 ]; then
  log "fast suite on SQLite"
  # A file, as `make run` uses, not Django's default in-memory test database: that one shares
  # its cache between connections, where a write meeting another thread's write fails at once
  # ("database table is locked") instead of waiting out the busy timeout as a file does.
  DATABASE_URL="sqlite:///$PG_DIR/sqlite.db" SQLITE_TEST_NAME="$PG_DIR/sqlite-test.db" \
    run_pytest -q -m "not postgres and not e2e and not slow"
fi

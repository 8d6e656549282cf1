#!/usr/bin/env bash
# `make loadtest`: gunicorn + a throwaway PostgreSQL + one run_scheduler + a loopback execution
# plane, driven by C concurrent users (tests/bench/load/loadtest.py says what and how to set it).
# Like the benchmarks it reports and fails only on a crash. A quick check:
#   LOAD_SHORT=1 make loadtest
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

pg_bindir >/dev/null 2>&1 || ensure_apt
ensure_venv
# The `load` extra (httpx), once per pyproject change.
if [ ! -f "$VENV/.installed-load" ] || [ "$ROOT/pyproject.toml" -nt "$VENV/.installed-load" ]; then
  log "installing the load test's packages"
  "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test,load]"
  touch "$VENV/.installed-load"
fi
trap pg_stop EXIT
pg_start
export PG_DATA="$PG_DIR/data"  # the load test reads the postmaster's pid there, for its CPU figures

export PYTHONDONTWRITEBYTECODE=1
# DEBUG off, as `make serve`: the pages link hashed static names from collectstatic's manifest.
"$PY" manage.py collectstatic --no-input -v 0
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
"$PY" tests/bench/load/loadtest.py

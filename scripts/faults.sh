#!/usr/bin/env bash
# `make faults`: the fault suite in full (every fault on the keep-alive, HTTP/1.0 and gunicorn
# planes, 10 occurrences each, and the 3-replica, 300-schedule check against a plane that
# closes every connection) on a throwaway PostgreSQL, then its table: fault, plane,
# occurrences, sessions per occurrence, final runs, p99 time from the occurrence to its final
# run (scheduler time; for the scale row, wall time until all 300 were accepted).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

pg_bindir >/dev/null 2>&1 || ensure_apt
ensure_venv
trap pg_stop EXIT
pg_start

export PYTHONDONTWRITEBYTECODE=1 FAULTS_FULL=1 FAULTS_TABLE=1
"$PY" -m pytest -q -p no:randomly tests/faults "$@"

#!/usr/bin/env bash
# `make bench`: the benchmarks (targets in docs/design.md, section 11) on a throwaway PostgreSQL, printing each
# figure beside its baseline from the same run. Benchmarks report; they do not fail on a
# missed target (only on a crash). Pass bench file names to run a part:
#   bash scripts/bench.sh tests/bench/bench_firing.py
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

pg_bindir >/dev/null 2>&1 || ensure_apt
# bench_langgraph.py starts `langgraph dev`.
ensure_venv
ensure_langgraph_venv
trap pg_stop EXIT
# bench_lag reads each run row's commit time from PostgreSQL (tests/bench/herd.py).
PG_EXTRA_OPTS="-c track_commit_timestamp=on" pg_start

export PYTHONDONTWRITEBYTECODE=1
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
# The pages link hashed static names (WhiteNoise's manifest storage): collect them first.
"$PY" manage.py collectstatic --no-input -v 0
# Benchmarks measure capacity, not the API's rate limits.
export API_THROTTLE_WRITE="" API_THROTTLE_RUN=""

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/bench/bench_*.py)
log "machine: $(nproc) cores, $(python3 -c 'import platform; print(platform.python_version())') / $("$PY" -c 'import sys; print(sys.version.split()[0])'), PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
status=0
for f in "${files[@]}"; do
  log "$f"
  if grep -q '^if __name__ == "__main__"' "$f"; then
    "$PY" "$f" || status=$?
  else
    "$PY" -m pytest -p no:cacheprovider -q -s "$f" || status=$?
  fi
done
exit $status

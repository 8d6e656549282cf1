# Shared shell helpers for the Makefile's scripts. Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Creates .venv and installs the project with its extras, once per pyproject change. The extras
# are `test` plus those named in VENV_EXTRAS; the stamp lists what is installed.
ensure_venv() {
  local stamp="$VENV/.installed" extra missing=0
  local extras="test${VENV_EXTRAS:+,$VENV_EXTRAS}"
  if [ ! -x "$PY" ]; then
    log "creating .venv"
    python3 -m venv "$VENV"
  fi
  for extra in ${extras//,/ }; do
    grep -qx "$extra" "$stamp" 2>/dev/null || missing=1
  done
  if [ "$missing" -eq 1 ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    log "installing Python packages ($extras)"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
    "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[$extras]"
    tr ',' '\n' <<<"$extras" >"$stamp"
  fi
  # Every target that runs the project (run, test, bench) serves the pages in both languages.
  ensure_messages
}

# The LangGraph Agent Server (`langgraph dev`, the `langgraph` extra of pyproject.toml) in a
# virtualenv of its own, .venv-langgraph: it runs as a separate process (the real-server tests,
# `PLANE=langgraph make run`, the bench), and its pins (jsonschema_rs, ...) would otherwise hold
# back our own test tools (schemathesis). Once per pyproject change.
LANGGRAPH_VENV="$ROOT/.venv-langgraph"
ensure_langgraph_venv() {
  local stamp="$LANGGRAPH_VENV/.installed"
  if [ -x "$LANGGRAPH_VENV/bin/langgraph" ] && [ -f "$stamp" ] && [ ! "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    return 0
  fi
  log "installing the LangGraph Agent Server in .venv-langgraph"
  [ -x "$LANGGRAPH_VENV/bin/python" ] || python3 -m venv "$LANGGRAPH_VENV"
  "$LANGGRAPH_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["langgraph"]))' \
    "$ROOT/pyproject.toml" >"$LANGGRAPH_VENV/requirements.txt"
  "$LANGGRAPH_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LANGGRAPH_VENV/requirements.txt"
  touch "$stamp"
}

# Compiles the translation catalogues (locale/*/LC_MESSAGES/django.po -> .mo) with GNU
# gettext's msgfmt, installing Debian's gettext when it is absent. The .mo files are committed
# too (an install without make serves Chinese); a .po edited since is compiled here, and
# tests/automation/test_translations.py fails until the new .mo is committed.
ensure_messages() {
  command -v msgfmt >/dev/null 2>&1 || apt_install gettext
  local po stale=0
  for po in "$ROOT"/locale/*/LC_MESSAGES/django.po; do
    [ -f "$po" ] || continue
    [ "${po%.po}.mo" -nt "$po" ] || stale=1
  done
  [ "$stale" -eq 0 ] && return 0
  log "compiling translations"
  (cd "$ROOT" && "$PY" manage.py compilemessages --ignore=.venv >/dev/null)
}

# run.sh and serve.sh start their processes in the background and put their ids in `pids`;
# this (their INT/TERM/EXIT trap) stops them all, so Ctrl-C leaves nothing running.
stop_children() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}

apt_install() {
  log "installing $* with apt-get"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Installs Debian packages that are missing (PostgreSQL server, Chromium, GNU gettext, systemd's
# systemd-analyze).
ensure_apt() {
  local missing=()
  pg_bindir >/dev/null 2>&1 || missing+=(postgresql)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)
  # `systemd-analyze verify` checks the example units in deploy/systemd (tests/test_deploy.py).
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}"
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts a throwaway PostgreSQL in a temp dir on a free loopback port and exports
# DATABASE_URL. Call pg_stop from an EXIT trap. PG_EXTRA_OPTS: more server options (`-c name=value`).
pg_start() {
  local bindir run_as=()
  bindir="$(pg_bindir)" || { echo "PostgreSQL server binaries not found" >&2; return 1; }
  PG_DIR="$(mktemp -d /tmp/agent-schedules-pg.XXXXXX)"
  PG_PORT="$(free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    # initdb and postgres refuse to run as root.
    chown postgres "$PG_DIR"
    run_as=(runuser -u postgres --)
  fi
  PG_RUN_AS=("${run_as[@]}")
  PG_BINDIR="$bindir"
  "${run_as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  "${run_as[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w start -o \
    "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${PG_EXTRA_OPTS:-}" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/agent_schedules"
  "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres agent_schedules
  log "PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_RUN_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}

# `PLANE=langgraph make run`: starts `langgraph dev` (in memory, offline) with the demo graph
# (agents/langgraph_demo.py) in .langgraph/, waits for it, and points the scheduler at it.
# Its state (threads, runs) is pickled in .langgraph/.langgraph_api and kept across restarts.
start_langgraph_demo() {
  local dir="$ROOT/.langgraph" port="${LANGGRAPH_PORT:-2024}" i
  mkdir -p "$dir"
  cat >"$dir/langgraph.json" <<JSON
{"dependencies": ["."], "graphs": {"echo": "$ROOT/agents/langgraph_demo.py:echo"},
 "webhooks": {"url": {"disable_loopback": false, "require_https": false}}}
JSON
  log "starting langgraph dev on 127.0.0.1:$port (log: .langgraph/server.log)"
  (cd "$dir" && LANGGRAPH_CLI_NO_ANALYTICS=1 LANGSMITH_TRACING=false exec "$LANGGRAPH_VENV/bin/langgraph" dev --no-browser \
    --no-reload --host 127.0.0.1 --port "$port" --config langgraph.json >"$dir/server.log" 2>&1) &
  pids+=($!)
  for i in $(seq 1 120); do
    curl -fsS -m 1 "http://127.0.0.1:$port/ok" >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
    sleep 0.5
  done
  export EXECUTION_PLANE=langgraph LANGGRAPH_URL="http://127.0.0.1:$port"
  # The webhook URLs carry an HMAC keyed with this; a fixed local value is fine for a demo.
  export EXECUTION_PLANE_SECRET="${EXECUTION_PLANE_SECRET:-local-demo-secret}"
  export LANGGRAPH_THREAD_URL="${LANGGRAPH_THREAD_URL:-$LANGGRAPH_URL/threads/{thread_id}}"
  export LANGGRAPH_RUN_URL="${LANGGRAPH_RUN_URL:-$LANGGRAPH_URL/threads/{thread_id}/runs/{run_id}}"
}

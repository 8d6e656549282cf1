#!/usr/bin/env bash
# `make run`: create .venv, install, migrate the SQLite default, seed the demo org/user/agent,
# then start the web server and the scheduler together until Ctrl-C.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# PLANE=langgraph: a local LangGraph Agent Server (`langgraph dev`) runs the demo agent instead
# of the embedded local plane.
PLANE="${PLANE:-local}"
if [ "$PLANE" = langgraph ]; then
  ensure_venv
  ensure_langgraph_venv
else
  ensure_venv
fi
export DEBUG="${DEBUG:-true}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://$HOST:$PORT}"
# The demo chat page stands in for the chat app; schedules made from it link back to it.
export DEMO_CHAT="${DEMO_CHAT:-true}"
export EXECUTION_PLANE_SESSION_URL="${EXECUTION_PLANE_SESSION_URL:-$SITE_URL/demo/chat/{session_id}/}"

"$PY" manage.py migrate --no-input
"$PY" manage.py seed_demo

pids=()
trap stop_children INT TERM EXIT

if [ "$PLANE" = langgraph ]; then
  start_langgraph_demo
fi

"$PY" manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
"$PY" manage.py run_scheduler &
pids+=($!)

cat <<MSG

  Agent schedules is running. Logins are for local use only:
    Pages:     $SITE_URL/automation/schedules/
               sign in as demo / demo (admin of org demo)
    API docs:  $SITE_URL/api/v1/docs/   (the same demo login)
    Demo chat: $SITE_URL/demo/chat/demo-session-1/
               "Make this a schedule" under the answer (the same demo login)
    Admin:     $SITE_URL/admin/
               sign in as support / support (support staff; demo cannot use the admin)
${LANGGRAPH_URL:+    LangGraph: $LANGGRAPH_URL (langgraph dev; the demo agent echo is its graph \`echo\`)
}  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"

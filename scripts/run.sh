#!/usr/bin/env bash
# Run the web server and the django-q2 worker together; Ctrl-C (or TERM) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
PY="${PY:-.venv/bin/python}"
URL="http://127.0.0.1:${PORT}/admin/"

port_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null
}

if port_answers; then
  echo "Port ${PORT} is already in use. Stop what runs there, or: make run PORT=8765" >&2
  exit 1
fi

# Job control gives each background job its own process group, so one signal reaches
# runserver's autoreloader child and every qcluster process.
set -m
# stdin from /dev/null: a background group touching the terminal would be stopped (SIGTTOU).
"$PY" manage.py runserver "127.0.0.1:${PORT}" </dev/null &
web=$!
"$PY" manage.py qcluster </dev/null &
worker=$!

group_alive() {
  kill -0 -- "-$1" 2>/dev/null
}

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the web server and the worker..."
  local pid
  # runserver and its autoreloader child simply exit on TERM. qcluster's main process stops
  # its sentinel and workers gracefully on TERM; they ignore SIGINT and die on a direct TERM,
  # so only the main process is signalled.
  kill -TERM -- "-$web" 2>/dev/null || true
  kill -TERM "$worker" 2>/dev/null || true
  for _ in $(seq 1 75); do
    group_alive "$web" || group_alive "$worker" || return 0
    sleep 0.2
  done
  echo "Still running after 15 s: killing them."
  for pid in "$web" "$worker"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

for _ in $(seq 1 120); do
  port_answers && break
  group_alive "$web" || break
  sleep 0.5
done

if group_alive "$web"; then
  cat <<BANNER

  Outreach CRM is running.
    Admin:   ${URL}
    Logins:  admin / demo-admin-123   (ADMIN)
             rep1  / demo-rep-123     (REP)
             rep2  / demo-rep-123     (REP)
    Worker:  manage.py qcluster (django-q2) is processing tasks.
  Ctrl-C stops both.

BANNER
fi

# Whichever stops first (a crash, an error), the EXIT trap stops the other.
status=0
wait -n "$web" "$worker" || status=$?
echo "A process exited (status ${status}); stopping the other." >&2
exit "$status"

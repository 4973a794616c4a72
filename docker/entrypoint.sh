#!/bin/sh
# The container's entry point: one image, several roles.
#
#   web                 serve the admin, the API, /health and /metrics with Gunicorn (default)
#   worker [OPTIONS]    run `manage.py runworker OPTIONS` (e.g. --queues default,mail)
#   migrate             wait for the database, apply migrations, exit
#   manage ARGS         any manage.py command, e.g. `manage jobsctl stats`
#   healthcheck         the image's HEALTHCHECK: /health for web, a live heartbeat for a worker
#   anything else       run as given if it is a command on PATH (e.g. `sh`), else exit 64
#
# Each role replaces this shell (exec), so signals reach Gunicorn or the worker directly:
# SIGTERM lets a worker finish its jobs within WORKER_SHUTDOWN_GRACE_SECONDS.
set -eu

APP_DIR=${APP_DIR:-$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)}
cd "$APP_DIR"
PYTHON=${PYTHON:-python}
ROLE_FILE=${ROLE_FILE:-/tmp/scheduler-role}
DB_WAIT_SECONDS=${DB_WAIT_SECONDS:-60}

say() {
    echo "entrypoint: $*" >&2
}

remember_role() {
    # The HEALTHCHECK runs in a separate process: it reads which role this container plays.
    echo "$1" >"$ROLE_FILE" 2>/dev/null || true
}

# Exits 0 when the database answers, 3 when it does not (printing why on one line); any
# other failure (bad settings, a missing module) is not worth waiting for.
DB_CHECK='import sys
from django.db import DatabaseError, connections
try:
    for connection in connections.all():  # the scheduler database of its own too
        connection.ensure_connection()
except DatabaseError as exc:
    print(" ".join(str(exc).split()) or type(exc).__name__, file=sys.stderr)
    sys.exit(3)'

wait_for_database() {
    deadline=$(($(date +%s) + DB_WAIT_SECONDS))
    while :; do
        status=0
        out=$("$PYTHON" manage.py shell --no-imports -c "$DB_CHECK" 2>&1) || status=$?
        reason=$(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1)
        case "$status" in
        0) return 0 ;;
        3) ;;
        *)
            say "cannot start: ${reason:-manage.py exited with status $status}"
            exit 1
            ;;
        esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "the database did not answer within ${DB_WAIT_SECONDS} s: $reason"
            exit 1
        fi
        say "waiting for the database..."
        sleep 1
    done
}

role=${1:-web}
[ "$#" -gt 0 ] && shift

case "$role" in
web)
    remember_role web
    exec "$PYTHON" -m gunicorn -c docker/gunicorn.conf.py "$@" scheduler_project.wsgi:application
    ;;
worker)
    remember_role worker
    exec "$PYTHON" manage.py runworker "$@"
    ;;
migrate)
    wait_for_database
    # With a scheduler database of its own, its tables are migrated there too.
    if [ -n "${SCHEDULER_DATABASE_URL:-}" ]; then
        "$PYTHON" manage.py migrate --database scheduler --noinput "$@" || exit
    fi
    exec "$PYTHON" manage.py migrate --noinput "$@"
    ;;
manage)
    exec "$PYTHON" manage.py "$@"
    ;;
healthcheck)
    case "$(cat "$ROLE_FILE" 2>/dev/null || echo web)" in
    worker)
        # Live means: this host's worker heartbeat is within WORKER_LEASE_SECONDS.
        exec "$PYTHON" manage.py jobsctl workers --host "$(uname -n)" --check >/dev/null
        ;;
    *)
        port=${PORT:-8000}
        exec "$PYTHON" -c "import sys, urllib.request
try:
    urllib.request.urlopen('http://127.0.0.1:${port}/health', timeout=5)
except Exception as exc:
    sys.exit(f'unhealthy: {exc}')"
        ;;
    esac
    ;;
*)
    # Any other command on PATH runs as given (`sh`, `python -m ...`); a typo of a role
    # says so rather than "not found".
    if ! command -v "$role" >/dev/null 2>&1; then
        say "unknown role '$role': use web, worker, migrate, manage, healthcheck or a command"
        exit 64
    fi
    exec "$role" "$@"
    ;;
esac

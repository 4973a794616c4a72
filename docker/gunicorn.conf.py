"""Gunicorn settings for the web container, each overridable from the environment.

    gunicorn -c docker/gunicorn.conf.py scheduler_project.wsgi:application

Threads (gthread) rather than many processes: requests mostly wait on PostgreSQL, and each
thread keeps its own connection (CONN_MAX_AGE), so PostgreSQL sees WEB_CONCURRENCY x
GUNICORN_THREADS connections per container at most. /metrics holds no in-process counters,
so no multiprocess directory is needed.
"""

import multiprocessing
import os

# Names here that are not Gunicorn settings start with "_" (Gunicorn ignores unknown names
# silently, so tests/ops/test_docker.py checks that every other name is a real setting).
_TRUE = ("1", "true", "yes", "on", "y", "ok")  # as django-environ reads booleans


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        # SystemExit, not an exception: Gunicorn prints it as one line instead of a traceback.
        reason = f"gunicorn.conf.py: {name} must be a whole number, not {value!r}"
        raise SystemExit(reason) from None


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)  # seconds a request may take before its worker restarts
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # seconds to finish requests on TERM
keepalive = _int("GUNICORN_KEEPALIVE", 5)  # seconds; above the proxy's idle timeout is wrong
# Recycle each process now and then so a slow leak cannot grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Heartbeat files in memory: a container's /tmp may be a slow overlay filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Only these proxies may set X-Forwarded-For/-Proto (Django trusts X-Forwarded-Proto).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app logs one line per request with its request id (ops.middleware); Gunicorn's own
# access log is off unless asked for.
_access_log_wanted = os.environ.get("GUNICORN_ACCESS_LOG", "").lower() in _TRUE
accesslog = "-" if _access_log_wanted else None
# Gunicorn's combined format plus the time taken and the app's request id, so an access line
# can be matched to the app's lines about the same request.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
    "duration=%(M)sms request_id=%({x-request-id}o)s"
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "scheduler-web"
# Gunicorn 27's runtime control socket is not used in a container (and $HOME is read-only).
control_socket_disable = True

_debug = os.environ.get("DEBUG", "").lower() in _TRUE
_log_format = os.environ.get("LOG_FORMAT") or ("text" if _debug else "json")  # as in settings
if _log_format == "json":
    # Gunicorn's own lines (boot, worker restarts) as JSON too, like the app's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ops.logging.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "gunicorn.error": {
                "handlers": ["console"],
                "level": loglevel.upper(),
                "propagate": False,
            },
            # With a logging config Gunicorn logs access lines unless the logger drops them.
            "gunicorn.access": {
                "handlers": ["console"] if _access_log_wanted else [],
                "level": "INFO" if _access_log_wanted else "CRITICAL",
                "propagate": False,
            },
        },
    }

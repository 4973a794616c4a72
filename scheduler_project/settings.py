"""Settings, read from the environment (and an optional `.env`) with django-environ.

Every knob an operator may turn is an environment variable; the README has the table.
"""

import os
import warnings
from pathlib import Path

import environ
import psycopg
from django.core.exceptions import ImproperlyConfigured
from psycopg.conninfo import conninfo_to_dict

from accounts import conf as accounts_conf
from jobs import conf as jobs_conf

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: export SECRET_KEY (a long random string) or set DEBUG=1 "
            "for local development."
        )
    # Development only: DEBUG is on, so nothing that depends on this key is trusted.
    SECRET_KEY = "django-insecure-development-only-key-never-used-with-debug-off"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # ArrayField (the rate limit's recent starts)
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "handlers",
    "jobs",
    "ops",
]

MIDDLEWARE = [
    # First: probes answer before host checks and HTTPS redirects (see ops.middleware).
    "ops.middleware.ProbeMiddleware",
    "ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: audit events read the user (and, once DRF has authenticated
    # inside the view, the API token) from the request being served.
    "jobs.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scheduler_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "scheduler_project.wsgi.application"
ASGI_APPLICATION = "scheduler_project.asgi.application"

# PostgreSQL only: its row locks, SKIP LOCKED, LISTEN/NOTIFY and prepared statements are the
# engine. `make run` exports the embedded server's URL when DATABASE_URL is not set (see
# scheduler_project.embedded_db).
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: run `make run` (it starts the embedded PostgreSQL), or set "
        "DATABASE_URL=postgres://user:password@host:port/name."
    )
_prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
if _prepare not in ("", "none") and not _prepare.isdigit():
    raise ImproperlyConfigured(
        f"DATABASE_PREPARE_THRESHOLD must be a whole number or none, not {_prepare!r}."
    )


def _database(variable: str) -> dict:
    """The PostgreSQL database the URL in `variable` names, with the project's options."""
    url = env.str(variable)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown scheme is refused below, in one line
            database = env.db_url_config(url)
    except ValueError as exc:  # e.g. a port that is not a number
        raise ImproperlyConfigured(f"{variable} is not a valid URL: {exc}") from None
    if database.get("ENGINE") != "django.db.backends.postgresql":
        what = f"a {url.partition('://')[0]}:// URL" if "://" in url else "not a URL"
        raise ImproperlyConfigured(
            f"{variable} is {what}: this scheduler runs on PostgreSQL only "
            "(postgres://user:password@host:port/name)."
        )
    options = database.setdefault("OPTIONS", {})
    # A unix socket directory given as ?host=/dir (the embedded server's URL) is the HOST.
    if not database["HOST"] and "host" in options:
        database["HOST"] = options.pop("host")
    database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    database["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server (Django's documented option), not quoted into the SQL
    # by the client: an enqueue's arrays are sent as they are, and psycopg prepares a
    # statement (the enqueue, the worker's claim and outcomes, the ORM's repeated queries)
    # after DATABASE_PREPARE_THRESHOLD runs on one connection; "none" never prepares. Never
    # behind a transaction pooler either way (jobs.engine.pooler).
    options.setdefault("server_side_binding", True)
    options.setdefault("prepare_threshold", int(_prepare) if _prepare.isdigit() else None)
    return database


DATABASES = {"default": _database("DATABASE_URL")}
# The scheduler's tables on a PostgreSQL of their own, the application's on DATABASE_URL
# (scheduler_project.routers). An enqueue is then not part of the application's transaction.
if env.str("SCHEDULER_DATABASE_URL", default=""):
    DATABASES["scheduler"] = _database("SCHEDULER_DATABASE_URL")
    DATABASE_ROUTERS = ["scheduler_project.routers.SchedulerRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# WhiteNoise serves collected static files from the app server. Hashed, compressed names
# need `collectstatic` (the Docker image runs it), so development keeps the plain storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Development (and the test suite) serve files from the apps, without collectstatic.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="scheduler@localhost")

# Proxies in front of the app (load balancer, ingress) that append to X-Forwarded-For and
# set X-Forwarded-Proto. 0, the default: no proxy is trusted, so a client cannot pick the
# address its throttles count against, nor claim HTTPS, by sending those headers itself.
_proxies = env.str("API_NUM_PROXIES", default="0").strip() or "0"
if not _proxies.isdigit():
    raise ImproperlyConfigured(
        f"API_NUM_PROXIES must be a whole number, 0 or more, not {_proxies!r}."
    )
API_NUM_PROXIES = int(_proxies)

# --- Production hardening: on unless DEBUG, each overridable from the environment. ---
# Django believes this header from whoever sends it: only a configured proxy (which sets it
# on every request, overwriting the client's) may say the request came over HTTPS. Without
# one, Gunicorn's FORWARDED_ALLOW_IPS (docker/gunicorn.conf.py) still tells Django the scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if API_NUM_PROXIES else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# The header only makes the site eligible; joining the browsers' list is a separate request.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Paths served over plain HTTP too (regexes without the leading slash): scrapers inside the
# network call /metrics directly. The probes never redirect (ops.middleware.ProbeMiddleware).
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[r"^metrics$"])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- The scheduler and its accounts. Each of their settings is listed, with its default and
# its unit, in jobs/conf.py or accounts/conf.py, where code reads it; any of them may be set
# here from the environment variable of the same name, cast like its default.


_KINDS = {int: "a whole number", float: "a number"}


def _from_environment(defaults: dict) -> dict:
    """Return each setting in `defaults` as the environment sets it, or its default."""
    values = {}
    for name, default in defaults.items():
        try:
            values[name] = env.get_value(name, cast=type(default), default=default)
        except ValueError:
            kind = _KINDS.get(type(default), type(default).__name__)
            raise ImproperlyConfigured(
                f"{name} must be {kind}, not {os.environ.get(name)!r}."
            ) from None
    return values


_scheduler = _from_environment(jobs_conf.DEFAULTS)
vars().update(_scheduler)
vars().update(_from_environment(accounts_conf.DEFAULTS))
if _scheduler["DATABASE_POOL_MODE"] not in ("auto", "session", "transaction"):
    raise ImproperlyConfigured(
        "DATABASE_POOL_MODE must be auto, session or transaction, "
        f"not {_scheduler['DATABASE_POOL_MODE']!r}."
    )
# Retention drops whole months of history: a cutoff in the future would drop this one.
for _name, _least in (("CLEANUP_RETENTION_DAYS", 1), ("AUDIT_RETENTION_DAYS", 0)):
    if _scheduler[_name] < _least:
        raise ImproperlyConfigured(f"{_name} must be {_least} or more, not {_scheduler[_name]}.")
try:  # read by the workers' listener only, but a typo is better told at start-up, everywhere
    conninfo_to_dict(_scheduler["DATABASE_LISTEN_URL"])
except psycopg.ProgrammingError as exc:
    raise ImproperlyConfigured(
        f"DATABASE_LISTEN_URL is not a PostgreSQL connection URL: {str(exc).strip()}"
    ) from None

# json: one object per line with the structured fields (job_id, execution_id, attempt,
# worker, duration, request_id); text: readable lines for development.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "ops.logging.TextFormatter"},
        "json": {"()": "ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Optional: the same lines also go to a file, rotated by size, for hosts without a log
# collector. Rotation is per process: give each process (web, each worker) its own file.
LOG_FILE = env.str("LOG_FILE", default="")
if LOG_FILE:
    if not Path(LOG_FILE).parent.is_dir():
        raise ImproperlyConfigured(f"LOG_FILE {LOG_FILE!r}: its directory does not exist.")
    LOGGING["handlers"]["file"] = {
        "class": "logging.handlers.RotatingFileHandler",
        "filename": LOG_FILE,
        "maxBytes": env.int("LOG_FILE_MAX_BYTES", default=10 * 1024 * 1024),
        "backupCount": env.int("LOG_FILE_BACKUPS", default=5),  # rotated files kept
        "encoding": "utf-8",
        "formatter": LOG_FORMAT,
        "filters": ["request_id"],
    }
    LOGGING["root"]["handlers"].append("file")

# --- Django's Tasks framework (django.tasks on Django 6, the django-tasks backport on 5.2):
# `@task` functions are enqueued as jobs and run by `runworker`. QUEUES: [] allows any queue.
TASKS = {
    "default": {
        "BACKEND": "jobs.tasks_backend.SchedulerBackend",
        "QUEUES": [],
        "OPTIONS": {"max_retries": env.int("TASKS_MAX_RETRIES", default=0)},
    }
}

# --- REST API (/api/v1/). ---
# Throttling counts requests in the cache: give every web process the same one (e.g.
# CACHE_URL=redis://... or dbcache://api_cache after `createcachetable`) or each counts alone.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}


def _rate(name: str, default: str) -> str | None:
    """A throttle rate like "100/min" from the environment; empty or "none" switches it off."""
    value = env.str(name, default=default).strip()
    return None if value.lower() in ("", "none", "off") else value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["jobs.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "jobs.api.pagination.PageNumberPagination",
    "PAGE_SIZE": _scheduler["API_PAGE_SIZE"],
    "DEFAULT_THROTTLE_CLASSES": [
        "web.throttles.AnonThrottle",
        "web.throttles.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": _rate("API_THROTTLE_ANON", "120/min"),
        "user": _rate("API_THROTTLE_USER", "1200/min"),
        "login": _rate("API_THROTTLE_LOGIN", "10/min"),
        # Per username tried, whatever the address: guesses at one account from many.
        "login_username": _rate("API_THROTTLE_LOGIN_USERNAME", "20/hour"),
        "register": _rate("API_THROTTLE_REGISTER", "20/hour"),
    },
    # Throttles key on the client address: X-Forwarded-For's entry written by the outermost
    # of NUM_PROXIES proxies, or REMOTE_ADDR when there are none (0).
    "NUM_PROXIES": API_NUM_PROXIES,
    "EXCEPTION_HANDLER": "jobs.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "web.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "django-pgscheduler API",
    "DESCRIPTION": (
        "Schedule jobs, follow their executions and act on them.\n\n"
        "Authenticate with `Authorization: Bearer <token>` (or `Token <token>`); get a token "
        "from `POST /api/v1/auth/token`. Lists are paginated with `page` and `page_size`. "
        "Every error, 4xx or 5xx, is JSON of one shape (the `Error` schema): `status`, "
        "`code`, `detail`, and `errors` mapping each invalid field to its messages."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are public: they describe the API, not anyone's data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "jobs.states.JobState",
        "ExecutionStateEnum": "jobs.states.ExecutionState",
        "ScheduleTypeEnum": "jobs.states.ScheduleType",
        "MisfirePolicyEnum": "jobs.states.MisfirePolicy",
        "WorkerStatusEnum": "jobs.api.serializers.WORKER_STATUSES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "web.schema.forbid_unknown_request_fields",
    ],
    # The docs pages load Swagger UI and Redoc from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": True},
    "TAGS": [
        {"name": "auth", "description": "Accounts and API tokens."},
        {"name": "jobs", "description": "Job definitions and what can be done to them."},
        {"name": "executions", "description": "Attempts: history, retry, cancel."},
        {"name": "handlers", "description": "What a job can run, with its payload schema."},
        {"name": "workers", "description": "Running `runworker` processes (staff only)."},
        {"name": "stats", "description": "Counts and recent throughput."},
        {"name": "audit", "description": "Who changed what, when and from where (read-only)."},
    ],
}

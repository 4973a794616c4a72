"""API and admin: request times and query counts with a million executions in the table.

Each page is requested in-process through Django's test client (the whole middleware and
view stack, no network) with DEBUG off. The baseline is the same page measured in the same
run on a small table (1,000 executions), so the ratio shows how much the history costs:
flat pages stay near 1.
"""

import time

import psycopg

from .common import Figure, percentile, scaled, use_database
from .seed import JOB_COLUMNS, NO_NOTIFICATIONS, reset

REQUESTS = 200  # timed requests per page and size, after 5 warm-ups (p99: the third slowest)
JOBS = 1_000  # alice's jobs; the executions are spread over them
STATES = (
    "ARRAY['succeeded','succeeded','succeeded','succeeded','succeeded','succeeded',"
    "'succeeded','failed','dead','cancelled']"
)


def seed(url: str, executions: int) -> None:
    """Alice's jobs, and `executions` attempts over the last 30 days (mostly succeeded)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            f"""
            INSERT INTO jobs_job ({JOB_COLUMNS}, owner_id, interval_seconds)
            SELECT gen_random_uuid(), 'bench ' || g, 'noop', '{{}}', 'interval', NULL, '', 'UTC',
                   'default', 0, 3, 10, 'run_once', 'active', now() + interval '1 hour',
                   now() - g * interval '1 minute', now(), {NO_NOTIFICATIONS},
                   (SELECT id FROM accounts_user WHERE username = 'alice'), 3600
            FROM generate_series(1, %s) AS g
            """,
            [JOBS],
        )
        # Each execution its own occurrence: job g % JOBS, a minute apart going back.
        conn.execute(
            f"""
            WITH jobs AS (SELECT id, row_number() OVER () - 1 AS n FROM jobs_job),
            rows AS (
                SELECT g, now() - (g * interval '30 days' / %s) AS at,
                       ({STATES})[1 + g %% 10] AS state
                FROM generate_series(1, %s) AS g
            )
            INSERT INTO jobs_execution (job_id, scheduled_for, attempt, state, queue, priority,
                run_after, cancel_requested, error, traceback, created_at, started_at,
                finished_at)
            SELECT jobs.id, rows.at, 1, rows.state, 'default', 0, rows.at, false,
                   CASE WHEN rows.state IN ('failed', 'dead') THEN 'RuntimeError: boom'
                        ELSE '' END,
                   '', rows.at, rows.at, rows.at + interval '20 milliseconds'
            FROM rows JOIN jobs ON jobs.n = rows.g %% {JOBS}
            """,
            [executions, executions],
        )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def users():
    from django.contrib.auth import get_user_model

    from accounts.models import ApiToken

    model = get_user_model()
    alice = model.objects.create_user("alice", password="bench-pw-alice")
    root = model.objects.create_superuser("root", password="bench-pw-root")
    _, secret = ApiToken.issue(user=alice)
    return alice, root, secret


def pages(secret: str) -> dict:
    """The pages timed: (client kind, path)."""
    from jobs.models import Execution

    execution = Execution.objects.order_by("-id").first()
    job = execution.job
    return {
        "API job list": ("api", "/api/v1/jobs"),
        "API job detail": ("api", f"/api/v1/jobs/{job.pk}"),
        "API executions list": ("api", "/api/v1/executions"),
        "API dead letters": ("api", "/api/v1/executions?state=dead"),
        "API job history": ("api", f"/api/v1/jobs/{job.pk}/executions"),
        "API stats": ("api", "/api/v1/stats"),
        "admin dashboard": ("admin", "/admin/dashboard/"),
        "admin job list": ("admin", "/admin/jobs/job/"),
        "admin job detail": ("admin", f"/admin/jobs/job/{job.pk}/change/"),
        "admin executions list": ("admin", "/admin/jobs/execution/"),
        "admin execution detail": ("admin", f"/admin/jobs/execution/{execution.pk}/change/"),
    }


def measure(clients: dict, kind: str, path: str, n: int) -> tuple[list[float], int]:
    from django.db import connection

    client = clients[kind]
    for _ in range(5):
        response = client.get(path, secure=True)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
    # Counted by a wrapper round every statement (the test client's request signals reset
    # Django's own query log mid-request).
    statements = []
    with connection.execute_wrapper(
        lambda execute, sql, *a: statements.append(sql) or execute(sql, *a)
    ):
        client.get(path, secure=True)
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, secure=True)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    return timings, len(statements)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    from django.core.management import call_command
    from django.test import Client

    sizes = [100, 2_000] if smoke else [1_000, scaled(1_000_000)]
    n = 5 if smoke else REQUESTS
    reset(url)
    use_database(url)
    # DEBUG is off, as in production: the admin's pages need the collected, hashed files
    # (into STATIC_ROOT, git-ignored).
    call_command("collectstatic", "--noinput", verbosity=0)
    _, root, secret = users()
    results = {}
    for size in sizes:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM jobs_execution")
            conn.execute("DELETE FROM jobs_job")
            conn.commit()
        seed(url, size)
        api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        admin = Client()
        admin.force_login(root)
        clients = {"api": api, "admin": admin}
        for name, (kind, path) in pages(secret).items():
            results[(name, size)] = measure(clients, kind, path, n)
    small, large = sizes
    figures = []
    for name in pages(secret):
        timings, queries = results[(name, large)]
        base, base_queries = results[(name, small)]
        figures.append(
            Figure(
                "web",
                f"{name}, p99",
                round(percentile(timings, 99), 2),
                "ms",
                baseline=round(percentile(base, 99), 2),
                baseline_name=f"the same page with {small:,} executions",
                notes={
                    "workload": f"{large:,} executions over {JOBS:,} jobs",
                    "p50_ms": round(percentile(timings, 50), 2),
                    "queries": queries,
                    "queries_small_table": base_queries,
                },
            )
        )
    return figures

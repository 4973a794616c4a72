"""Fixtures for API tests: clients holding a real token, and jobs made through the services."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from jobs.models import Execution
from jobs.services import job_create
from jobs.states import ExecutionState


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counts live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def issue_secret(user, *, expires_in: timedelta = timedelta(hours=1)) -> str:
    _, secret = ApiToken.issue(user=user, expires_at=timezone.now() + expires_in)
    return secret


def client_with_token(secret: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def alice(user):
    """An API client signed in as `user` (alice)."""
    return client_with_token(issue_secret(user))


@pytest.fixture
def bob(other_user):
    """An API client signed in as `other_user` (bob)."""
    return client_with_token(issue_secret(other_user))


@pytest.fixture
def root(staff_user):
    """An API client signed in as a staff user."""
    return client_with_token(issue_secret(staff_user))


@pytest.fixture
def make_job(user):
    """Create a job through the service layer; by default alice's hourly noop job."""

    def make(owner=user, **fields):
        definition = {
            "name": "hourly",
            "handler": "noop",
            "schedule_type": "interval",
            "interval_seconds": 3600,
            **fields,
        }
        return job_create(owner=owner, **definition)

    return make


@pytest.fixture
def make_execution():
    """Insert an execution of `job` in a given state, as a worker would have left it."""

    def make(job, state=ExecutionState.QUEUED, *, attempt=1, scheduled_for=None, **fields):
        now = timezone.now()
        finished = state not in (ExecutionState.QUEUED, ExecutionState.RUNNING)
        values = {
            "job": job,
            "scheduled_for": scheduled_for or now,
            "attempt": attempt,
            "state": state,
            "queue": job.queue,
            "priority": job.priority,
            "run_after": now,
            "started_at": now - timedelta(seconds=2) if state != ExecutionState.QUEUED else None,
            "finished_at": now if finished else None,
            **fields,
        }
        return Execution.objects.create(**values)

    return make

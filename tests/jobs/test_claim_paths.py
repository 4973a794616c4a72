"""The two claims: a worker whose queues are plain (no limits, no keyed work due) claims
with claim_plain, which skips paused queues as the full claim does, and falls back to the
full claim, within the same call, as soon as its guard finds a limit or keyed work due."""

import threading
import time
from contextlib import contextmanager

import psycopg
import pytest

from jobs import engine, services
from jobs.engine import queries
from jobs.models import Execution
from jobs.services.queues import queue_pause, queue_update
from jobs.states import ExecutionState
from tests.conftest import database_url

pytestmark = pytest.mark.django_db(transaction=True)


def claim(db, worker, *, plain: bool, limit: int = 10, ahead: int = 0) -> engine.Claim:
    db.statements.clear()
    return engine.claim_due(
        db,
        worker_id=worker.pk,
        queues=["default"],
        limit=limit,
        batch=10,
        plain=plain,
        ahead=ahead,
    )


def claims_sent(db) -> list[str]:
    return ["plain" if "(SELECT plain FROM setting)" in s else "full" for s in db.statements[1::2]]


def test_plain_queues_are_claimed_with_the_plain_statement_after_the_first_claim(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 4)
    first = claim(db, worker, plain=False, limit=2)
    assert first.plain and len(first.executions) == 2
    second = claim(db, worker, plain=True, limit=10)
    assert claims_sent(db) == ["plain"]  # and no claim_wait: no queue of ours is rate-limited
    assert len(db.statements) == 2
    assert second.plain and len(second.executions) == 2
    assert {e.id for e in first.executions + second.executions} == set(
        Execution.objects.filter(state=ExecutionState.RUNNING).values_list("pk", flat=True)
    )


def test_a_plain_claim_takes_ahead_of_the_free_slots_and_the_full_claim_does_not(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 8)
    # Not known to be plain yet: the full claim, for the free slots only.
    assert len(claim(db, worker, plain=False, limit=1, ahead=2).executions) == 1
    assert len(claim(db, worker, plain=True, limit=1, ahead=2).executions) == 3
    assert len(claim(db, worker, plain=True, limit=0, ahead=2).executions) == 2
    # A limit set since: the fallback claims the free slots only, and none with no slot.
    queue_update(name="default", concurrency_limit=20)
    assert claim(db, worker, plain=True, limit=0, ahead=2).executions == []
    assert claims_sent(db) == ["plain"]
    assert len(claim(db, worker, plain=True, limit=1, ahead=2).executions) == 1
    assert claims_sent(db) == ["plain", "full"]
    assert Execution.objects.filter(state=ExecutionState.RUNNING).count() == 7


def test_a_limit_set_since_the_last_claim_is_kept_by_the_fallback(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 5)
    assert claim(db, worker, plain=False, limit=1).plain
    queue_update(name="default", concurrency_limit=2)
    after = claim(db, worker, plain=True)
    assert claims_sent(db) == ["plain", "full"]
    assert not after.plain and len(after.executions) == 1  # 1 was running: room for 1 more


def test_keyed_work_due_is_claimed_by_the_fallback(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}])
    assert claim(db, worker, plain=False).plain
    services.jobs_create_many(
        handler="noop", payloads=[{}, {}], concurrency_key="account:7", concurrency_limit=1
    )
    after = claim(db, worker, plain=True)
    assert claims_sent(db) == ["plain", "full"]
    assert not after.plain and len(after.executions) == 1  # one of the key's two


def test_a_limit_committed_while_a_plain_claim_waits_for_its_guard_holds(db, worker):
    # The guard reads the queues before it has their locks: a limit set while it waits is
    # not in what it read, so the plain claim checks the limits again in its own snapshot.
    services.jobs_create_many(handler="noop", payloads=[{}] * 5)
    assert claim(db, worker, plain=False, limit=1).plain  # one running
    with psycopg.connect(database_url()) as change:
        queries.run(change.cursor(), "lock_queue", name="default")  # as queue_update does
        result = {}
        claimer = threading.Thread(target=lambda: result.update(c=claim(db, worker, plain=True)))
        claimer.start()
        time.sleep(0.3)  # the claim now waits for the lock
        assert claimer.is_alive()
        change.execute("UPDATE jobs_queue SET concurrency_limit = 1 WHERE name = 'default'")
        change.commit()
    claimer.join(timeout=10)
    assert result["c"].executions == []  # the queue is full at 1: nothing more may start
    assert Execution.objects.filter(state=ExecutionState.RUNNING).count() == 1


def test_a_paused_queue_is_not_claimed_by_the_plain_statement(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 3)
    assert claim(db, worker, plain=False, limit=1).plain
    queue_pause(name="default")
    after = claim(db, worker, plain=True)
    assert claims_sent(db) == ["plain"] and after.executions == []


def test_a_claim_needs_an_autocommit_connection(worker):
    with engine.connect(autocommit=False) as db, pytest.raises(ValueError, match="autocommit"):
        engine.claim_due(db, worker_id=worker.pk, queues=["default"], limit=1)


# --- Outcomes recorded in the claim's round trip ------------------------------------------


def succeeded(executions) -> list[engine.Outcome]:
    return [engine.Outcome(e, ExecutionState.SUCCEEDED) for e in executions]


def kinds(db) -> list[str]:
    """What each statement sent was: a record of successes, a claim's guard, a claim, or
    something else."""
    return [
        "record"
        if "SET state = 'succeeded'" in s
        else "guard"
        if "set_config('jobs.claim_guarded'" in s
        else "claim"
        if "FOR UPDATE SKIP LOCKED" in s
        else "other"
        for s in db.statements
    ]


def record_and_claim(db, worker, executions, *, plain: bool) -> engine.Claim:
    """Record `executions` succeeded and claim as many again, as a worker's tick does."""
    return engine.outcomes_record_and_claim(
        db,
        worker_id=worker.pk,
        outcomes=succeeded(executions),
        queues=["default"],
        limit=len(executions),
        batch=10,
        plain=plain,
    )


@contextmanager
def default_queue_locked(db):
    """A pause of the default queue under way: a claim on `db` fails on its lock timeout."""
    db.execute("SET lock_timeout = '100ms'")
    with psycopg.connect(database_url()) as pause:
        queries.run(pause.cursor(), "lock_queue", name="default")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            yield


def done_count() -> int:
    return Execution.objects.filter(state=ExecutionState.SUCCEEDED).count()


def test_successes_are_recorded_in_the_claims_round_trip(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 4)
    first = claim(db, worker, plain=False, limit=2)
    db.statements.clear()
    second = record_and_claim(db, worker, first.executions, plain=True)
    assert kinds(db) == ["record", "guard", "claim"]  # one pipeline, one transaction
    assert len(second.executions) == 2
    done = Execution.objects.filter(state=ExecutionState.SUCCEEDED).values_list("pk", flat=True)
    assert set(done) == {e.id for e in first.executions}


def test_a_claim_that_fails_leaves_the_successes_sent_with_it_unwritten(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 4)
    first = claim(db, worker, plain=False, limit=2)
    with default_queue_locked(db):
        record_and_claim(db, worker, first.executions, plain=True)
    # One transaction: the record went with the claim, and is written when it is retried.
    assert done_count() == 0
    record_and_claim(db, worker, first.executions, plain=True)
    assert done_count() == 2


def test_successes_that_notify_are_recorded_on_their_own_first(db, worker):
    services.jobs_create_many(
        handler="noop", payloads=[{}] * 2, notify_on=["success"], notify_emails=["a@b.example"]
    )
    first = claim(db, worker, plain=False, limit=1)
    db.statements.clear()
    record_and_claim(db, worker, first.executions, plain=True)
    sent = kinds(db)
    assert sent[0] == "record" and "other" in sent[1 : sent.index("guard")]  # its notification
    assert sent[-2:] == ["guard", "claim"]


def test_successes_before_a_full_claim_are_recorded_on_their_own(db, worker):
    # Their own transaction: written even when the claim after them fails.
    services.jobs_create_many(handler="noop", payloads=[{}] * 4)
    first = claim(db, worker, plain=False, limit=2)
    with default_queue_locked(db):
        record_and_claim(db, worker, first.executions, plain=False)
    assert done_count() == 2

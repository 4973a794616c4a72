"""The worker's SQL file: each query runs against the migrated schema, rows match the models,
enqueue is one round trip, and the claim is prepared and index-driven."""

import dataclasses

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import engine, services
from jobs.engine import queries, wakeup
from jobs.engine.rows import ExecutionRow, JobRow, execution_rows
from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState
from jobs.worker import WorkerProcess
from tests.conftest import database_url
from tests.plans import by_parent_index

pytestmark = pytest.mark.django_db(transaction=True)


def due_job(**fields):
    return services.job_create(
        **{"name": "j", "handler": "noop", "schedule_type": "once", "run_at": timezone.now()}
        | fields
    )


# --- The file against the models -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(queries.QUERIES))
def test_each_query_runs_against_the_migrated_schema(db, name):
    # With every parameter NULL each statement touches no row, but PostgreSQL parses and
    # plans it against the tables as the migrations left them: a renamed or dropped column
    # fails here.
    query = queries.QUERIES[name]
    with pytest.raises((_Rollback, psycopg.errors.NotNullViolation)), db.transaction():
        params = dict.fromkeys(query.parameters) | {
            name: [] if name in ("queues", "handlers") else 1 for name in query.constants
        }
        if "current_setting('jobs.claim_" in query.sql:  # a claim reads what its guard set
            queries.run(db.cursor(), "claim_guard", queues=[], now=None, rate_wait_ms=1)
        if query.sql.startswith("COPY"):
            with queries.copy(db.cursor(), name):
                pass  # no rows: the columns are checked as the COPY starts
        else:
            queries.run(db.cursor(), name, **params)
        raise _Rollback
    assert query.description, f"{name} has no description"


class _Rollback(Exception):
    pass


@pytest.mark.parametrize(("row", "model"), [(JobRow, Job), (ExecutionRow, Execution)])
def test_row_fields_are_columns_of_their_models(row, model):
    columns = {field.attname for field in model._meta.concrete_fields}
    fields = {field.name for field in dataclasses.fields(row)} - {"job"}
    assert fields <= columns, fields - columns


def test_the_row_factory_refuses_a_column_it_would_drop(db):
    # A column the dataclasses have no field for is a query out of step with them.
    with pytest.raises(TypeError, match="extra"), db.cursor(row_factory=execution_rows) as cur:
        cur.execute("SELECT 1 AS id, 2 AS extra")


def test_the_claim_returns_every_field_of_its_rows(db, worker):
    due_job(
        handler="sleep",
        payload={"seconds": 1},
        notify_on=["dead"],
        notify_emails=["ops@example.com"],
    )
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    loaded = Execution.objects.select_related("job").get(pk=claimed.id)
    for field in dataclasses.fields(ExecutionRow):
        if field.name != "job":
            assert getattr(claimed, field.name) == getattr(loaded, field.name), field.name
    for field in dataclasses.fields(JobRow):
        assert getattr(claimed.job, field.name) == getattr(loaded.job, field.name), field.name
    assert claimed.started_at.tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        claimed.attempt = 2


def test_the_wakeup_channel_is_the_one_the_statements_notify():
    assert f"'{wakeup.CHANNEL}'" in queries.SQL_FILE.read_text()


# --- Enqueue ----------------------------------------------------------------------------


def test_enqueue_is_one_statement_with_its_execution_audit_event_and_wakeup(
    django_assert_num_queries,
):
    with django_assert_num_queries(1) as captured:
        job = due_job()
    [query] = captured.captured_queries
    assert "pg_notify" in query["sql"]
    assert job.executions.get().state == ExecutionState.QUEUED
    assert AuditEvent.objects.get(object_id=str(job.pk)).action == "create"
    # Saved as the ORM saves: a later save updates the row instead of inserting it again.
    job.name = "renamed"
    job.save(update_fields=["name"])
    assert Job.objects.get(pk=job.pk).name == "renamed"


def test_enqueue_writes_the_job_as_the_orm_reads_it():
    job = due_job(
        handler="sleep", payload={"seconds": 2}, notify_on=["dead"], notify_emails=["a@b.com"]
    )
    loaded = Job.objects.get(pk=job.pk)
    for field in Job._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(job, field.attname), field.name


def test_a_failing_part_of_the_statement_writes_none_of_it():
    # Outside any transaction (autocommit), as an enqueue from a script runs: the statement
    # is its own transaction, so the job and run written beside the refused job go too.
    job = Job(name="j", handler="noop", schedule_type="once", run_at=timezone.now())
    bad = Job(name="keyed", handler="noop", schedule_type="once", run_at=job.run_at)
    bad.concurrency_key = "customer:42"  # without a limit: refused by a check constraint
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        engine.jobs_insert(cursor, [job, bad], [(job, job.run_at)], now=timezone.now(), changes={})
    assert not Execution.objects.exists()
    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_bulk_enqueue_takes_as_many_statements_for_500_jobs_as_for_2(
    django_assert_num_queries,
):
    # BEGIN, a COPY each for jobs, executions and audit events, the queues and wake-up, COMMIT.
    with django_assert_num_queries(6):
        services.jobs_create_many(handler="sleep", payloads=[{"seconds": 1}] * 2)
    with django_assert_num_queries(6):
        ids = services.jobs_create_many(
            handler="sleep", payloads=[{"seconds": n} for n in range(500)]
        )
    assert Execution.objects.filter(state=ExecutionState.QUEUED).count() == 502
    sample = [Job.objects.get(pk=pk).payload["seconds"] for pk in ids[::50]]
    assert sample == list(range(0, 500, 50))
    assert AuditEvent.objects.filter(object_id__in=[str(pk) for pk in ids]).count() == 500


def test_a_bulk_enqueue_writes_the_rows_a_single_enqueue_writes(user):
    """The COPY path (jobs_copy) and the one-statement path (enqueue) write the same rows."""
    user.is_staff = True  # no quotas: any queue
    user.save()
    definition = {
        "handler": "sleep",
        "run_at": timezone.now(),
        "queue": "mail",
        "priority": 3,
        "max_retries": 5,
        "retry_backoff_seconds": 7,
        "timeout_seconds": 30,
        "concurrency_key": "account:7",
        "concurrency_limit": 2,
        "notify_on": ["dead"],
        "notify_emails": ["ops@example.com"],
        "notify_webhook_url": "https://hooks.example.com/x",
        "name": "same",
    }
    single = services.job_create(
        owner=user, schedule_type="once", payload={"seconds": 1}, **definition
    )
    [bulk_id] = services.jobs_create_many(owner=user, payloads=[{"seconds": 1}], **definition)

    def columns(model, exclude, **filters):
        row = model.objects.filter(**filters).values().get()
        return {name: value for name, value in row.items() if name not in exclude}

    different = {"id", "job_id", "created_at", "updated_at", "object_id", "changes"}
    assert columns(Job, different, pk=bulk_id) == columns(Job, different, pk=single.pk)
    assert columns(Execution, different, job_id=bulk_id) == columns(
        Execution, different, job_id=single.pk
    )
    assert columns(AuditEvent, different, object_id=str(bulk_id)) == columns(
        AuditEvent, different, object_id=str(single.pk)
    )


def test_notifications_of_an_enqueue_arrive_at_its_commit_and_say_what_changed():
    with psycopg.connect(database_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {wakeup.CHANNEL}")
        with transaction.atomic():
            due_job(queue="mail")
            services.job_create(
                name="hourly", handler="noop", schedule_type="cron", cron="0 * * * *"
            )
            assert not list(listener.notifies(timeout=0.3))  # nothing before the commit
        payloads = {note.payload for note in listener.notifies(timeout=1, stop_after=2)}
    assert payloads == {"queued:mail", "schedule:default"}


# --- The worker's loop ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "wakes", "refreshes", "cancels"),
    [
        ("queued:default", True, False, False),
        ("schedule:default", True, True, False),
        ("queued:mail", False, False, False),  # another queue's work
        ("cancel:12", True, False, True),
        ("default", False, False, False),  # a payload this version does not send
    ],
)
def test_worker_does_only_what_a_notification_asks(payload, wakes, refreshes, cancels):
    process = WorkerProcess(queues=["default"])
    assert process._heed(*wakeup.parse(payload)) is wakes
    assert process.refresh_due.is_set() is refreshes
    assert process.check_cancels.is_set() is cancels


def test_a_tick_that_drains_the_queue_does_not_claim_again_at_once():
    # No slot threads: what the tick claims stays in its work queue, which is all we need.
    process = WorkerProcess(queues=["default"], concurrency=3)
    process._register()
    process.last_maintenance = process.lease.last = float("inf")  # only the claim
    for _ in range(4):
        due_job()
    assert process._tick() is True  # three slots filled: a fourth may be waiting
    process.running.clear()  # as if the three had finished
    assert process._tick() is False  # one left and claimed: nothing more to ask for
    assert len(process.running) == 1
    process._reset_db()


# --- The claim's plan -------------------------------------------------------------------


def explain(db, worker, statement: str = "claim", *, generic: bool, seqscan: bool = False) -> str:
    """The plan PostgreSQL runs for the worker's `statement` (its generic plan, as a
    prepared statement settles on, with `generic`; sequential scans priced out unless
    `seqscan`), with a claim's parameters and NULL for any other."""
    query = queries.QUERIES[statement]
    params = dict.fromkeys(query.parameters) | {
        "worker": worker.pk,
        "queues": ["default"],
        "handlers": engine.handler_names(),
        "limit": 10,
        "free": 10,
        "now": timezone.now(),
    }
    params = {name: value for name, value in params.items() if name in query.parameters}
    with db.transaction():
        if not seqscan:
            db.execute("SET LOCAL enable_seqscan = off")
        if generic:
            db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        rows = db.execute(f"EXPLAIN {query.text(params)}", params).fetchall()
    return by_parent_index("\n".join(row[0] for row in rows), db.cursor())


def test_claim_plan_uses_the_partial_index(db, worker):
    assert "execution_claim_idx" in explain(db, worker, generic=False)


def test_claims_generic_plan_still_uses_the_partial_index(db, worker):
    plan = explain(db, worker, generic=True)
    assert "execution_claim_idx" in plan  # the queued rows, through the partial index
    assert "jobs_job_pkey" in plan  # and their jobs, each by its key


@pytest.mark.parametrize(
    "statement", ["claim", "claim_plain", "record_successes", "stale_executions"]
)
def test_the_worker_s_statements_probe_jobs_by_key_whatever_the_statistics(db, worker, statement):
    # A worker prepares its statements once per connection, and keeps their plans until
    # jobs_job is next analysed: plans made while the table was nearly empty (a new
    # deployment, a worker started beside an empty queue) must still be right once it holds
    # thousands. So each job these statements need is a probe by key: a plan that reads
    # jobs_job whole (as the plain EXISTS and joins these statements had were planned) costs
    # every claim and every recording the whole table (0.6 ms at 1,200 jobs, and growing).
    services.jobs_create_many(handler="noop", payloads=[{}] * 5)
    plan = explain(db, worker, statement, generic=True, seqscan=True)
    assert "Seq Scan on jobs_job" not in plan
    assert "jobs_job_pkey" in plan


def prepared_claims(db) -> list[tuple[int, int]]:
    return db.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
        ["%FOR UPDATE SKIP LOCKED%"],
    ).fetchall()


def test_repeated_claims_are_prepared_and_planned_once(db, worker):
    # psycopg prepares the claim at its 5th run; PostgreSQL plans the first 5 executions of
    # a prepared statement for their parameters, then keeps a generic plan if it is as good.
    # With a queue long enough that a generic plan blind to the limit would look costly.
    services.jobs_create_many(handler="noop", payloads=[{}] * 5000)
    db.execute("ANALYZE jobs_execution")
    for _ in range(db.prepare_threshold + 10):
        engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=10)
    [(generic_plans, _)] = prepared_claims(db)
    assert generic_plans > 0  # no longer planned at every claim


def test_claims_are_not_prepared_with_preparing_off(worker):
    # As DATABASE_PREPARE_THRESHOLD=none makes the worker's connections, for a pooler.
    with engine.connect(prepare_threshold=None) as db:
        for _ in range(10):
            engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=10)
        assert prepared_claims(db) == []


def test_recording_successes_is_one_statement_for_any_batch(db, worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 5)
    claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=5)
    results = [None, {"n": 1}]
    db.statements.clear()
    for batch, result in ((claimed[:1], None), (claimed[1:], {"n": 1})):
        outcomes = [
            engine.Outcome(execution, ExecutionState.SUCCEEDED, result=result)
            for execution in batch
        ]
        engine.outcomes_record(db, worker_id=worker.pk, outcomes=outcomes)
    assert len(db.statements) == 2 and len(set(db.statements)) == 1  # prepared once
    stored = dict(Execution.objects.values_list("pk", "result"))
    assert [stored[e.id] for e in claimed] == [results[0]] + [results[1]] * 4
    assert set(Execution.objects.values_list("state", flat=True)) == {ExecutionState.SUCCEEDED}
    assert set(Job.objects.values_list("state", flat=True)) == {"completed"}


def test_claims_of_any_number_of_free_slots_share_one_prepared_plan(db, worker):
    # A worker's free slots change from claim to claim; its batch (its concurrency) does not.
    services.jobs_create_many(handler="noop", payloads=[{}] * 500)
    for n in range(db.prepare_threshold + 10):
        engine.executions_claim(
            db, worker_id=worker.pk, queues=["default"], limit=1 + n % 4, batch=4
        )
    [(generic_plans, _)] = prepared_claims(db)
    assert generic_plans > 0


def test_a_queue_named_with_a_percent_sign_is_claimed_like_any_other(db, worker):
    # Queue and handler names are written into the claim's text, which runs with named
    # parameters: a lone % there would be read as a placeholder and fail every claim.
    job = services.job_create(
        owner=None,
        name="sale",
        handler="noop",
        queue="50%off",
        schedule_type="once",
        run_at=timezone.now(),
    )
    for plain in (False, True):
        claim = engine.claim_due(db, worker_id=worker.pk, queues=["50%off"], limit=5, plain=plain)
        if claim.executions:
            break
    assert [e.job_id for e in claim.executions] == [job.pk]

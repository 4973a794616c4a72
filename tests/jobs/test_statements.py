"""The hot-path statements: enqueue in one round trip, the claim prepared and index-driven."""

import re

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import audit, engine, services, statements, wakeup
from jobs.models import AuditEvent, Execution, Job, Worker
from jobs.states import ExecutionState
from jobs.worker import WorkerProcess
from tests.conftest import database_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker():
    return Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])


def due_job(**fields):
    return services.job_create(
        **{"name": "j", "handler": "noop", "schedule_type": "once", "run_at": timezone.now()}
        | fields
    )


def test_enqueue_is_one_statement_with_its_execution_audit_event_and_wakeup(
    django_assert_num_queries,
):
    with django_assert_num_queries(1) as queries:
        job = due_job()
    [query] = queries.captured_queries
    assert "pg_notify" in query["sql"]
    assert job.executions.get().state == ExecutionState.QUEUED
    assert AuditEvent.objects.get(object_id=str(job.pk)).action == "create"
    # Saved as the ORM saves: a later save updates the row instead of inserting it again.
    job.name = "renamed"
    job.save(update_fields=["name"])
    assert Job.objects.get(pk=job.pk).name == "renamed"


@pytest.mark.django_db(transaction=True)
def test_a_failing_part_of_the_statement_writes_none_of_it():
    # Outside any transaction (autocommit), as an enqueue from a script runs: the statement
    # is its own transaction, so the job written before the refused row goes too.
    job = Job(name="j", handler="noop", schedule_type="once", run_at=timezone.now())
    bad = Execution(job=job, scheduled_for=job.run_at, attempt=0)  # refused: attempt >= 1
    event = audit.events(action="create", object_type="job", objects=[(job.pk, None)])
    with pytest.raises(IntegrityError):
        statements.write_together(
            [statements.insert([job]), statements.insert([bad]), statements.insert(event)],
            notify=[],
        )
    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
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
    process.last_maintenance = process.last_heartbeat = float("inf")  # only the claim
    for _ in range(4):
        due_job()
    assert process._tick() is True  # three slots filled: a fourth may be waiting
    process.running.clear()  # as if the three had finished
    assert process._tick() is False  # one left and claimed: nothing more to ask for
    assert len(process.running) == 1


def as_prepared(sql: str) -> str:
    """Number the %s placeholders as PostgreSQL's PREPARE wants them."""
    counter = iter(range(1, 1000))
    return re.sub("%s", lambda _: f"${next(counter)}", sql)


def claim_statement(worker) -> tuple[str, list]:
    """The claim's SQL and parameters, as the engine sends them."""
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        engine.executions_claim(worker=worker, queues=["default"], limit=10)
    [statement] = captured
    return statement


def test_claim_plan_uses_the_partial_index(worker):
    sql, params = claim_statement(worker)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "execution_claim_idx" in plan


def test_claims_generic_plan_still_uses_the_partial_index(worker):
    sql, params = claim_statement(worker)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE claim AS {as_prepared(sql)}")
        try:
            # What a prepared statement runs once PostgreSQL settles on a generic plan.
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute("SET enable_seqscan = off")
            placeholders = ", ".join(["%s"] * len(params))
            cursor.execute(f"EXPLAIN EXECUTE claim({placeholders})", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("RESET enable_seqscan")
            cursor.execute("DEALLOCATE claim")
    assert "execution_claim_idx" in plan  # the queued rows, through the partial index
    assert "jobs_job_pkey" in plan  # and their jobs, each by its key


def test_repeated_claims_are_prepared_and_planned_once(worker):
    # psycopg prepares the claim at its 5th run; PostgreSQL plans the first 5 executions of
    # a prepared statement for their parameters, then keeps a generic plan if it is as good.
    # With a queue long enough that a generic plan blind to the limit would look costly.
    services.jobs_create_many(handler="noop", payloads=[{}] * 5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_execution")
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    for _ in range(threshold + 10):
        engine.executions_claim(worker=worker, queues=["default"], limit=10)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%FOR UPDATE SKIP LOCKED%"],
        )
        [(generic_plans,)] = cursor.fetchall()
    assert generic_plans > 0  # no longer planned at every claim


def stored(model, pk) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    return {name: value for name, value in row.items() if name not in ("id", "job_id")}


def test_insert_writes_the_rows_as_the_orm_saves_them():
    now = timezone.now()
    fields = {
        "name": "j",
        "handler": "noop",
        "payload": {"nested": [1, "two", None]},
        "schedule_type": "once",
        "run_at": now,
        "notify_on": ["dead"],
        "notify_emails": ["ops@example.com"],
        "timeout_seconds": 30,
        "created_at": now,
    }
    saved = Job.objects.create(**fields)
    written = Job(**fields)
    with connection.cursor() as cursor:
        cursor.execute(*statements.insert([written]))
    saved_row, written_row = stored(Job, saved.pk), stored(Job, written.pk)
    # updated_at is auto_now: set at each write, as save() sets it.
    assert written_row.pop("updated_at") >= saved_row.pop("updated_at")
    assert written_row == saved_row


def test_insert_writes_nulls_into_the_sql_so_an_enqueue_stays_small():
    job = Job(name="j", handler="noop", schedule_type="once", run_at=timezone.now())
    sql, params = statements.insert([job])
    assert "NULL" in sql and None not in params
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        due_job()
    # psycopg parses a statement once and caches it up to 50 parameters.
    [params] = captured
    assert len(params) <= 50


def test_insert_of_rows_with_an_expression_goes_through_the_compiler():
    from django.db.models.functions import Now

    worker = Worker(name="w", hostname="h", pid=1, queues=["default"], heartbeat_at=Now())
    sql, params = statements.insert([worker])
    assert "STATEMENT_TIMESTAMP()" in sql  # the database's clock, as the ORM writes Now()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    stored_worker = Worker.objects.get(name="w")
    assert stored_worker.heartbeat_at is not None
    assert stored_worker.queues == ["default"]


def test_a_bulk_enqueue_is_one_statement_of_one_array_per_column():
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        jobs = services.jobs_create_many(handler="noop", payloads=[{}] * 3000)
    [params] = captured
    assert len(params) < 100  # not one per value: bound on the server, whatever the count
    assert Job.objects.count() == 3000 == len(jobs)
    assert Execution.objects.filter(state=ExecutionState.QUEUED).count() == 3000


def test_a_statement_past_the_bind_limit_is_bound_by_the_client():
    count = statements.MAX_BOUND_PARAMS + 1
    values = ", ".join(["%s"] * count)
    statements.write_together(
        [(f"SELECT 1 WHERE 0 NOT IN ({values})", list(range(1, count + 1)))], notify=[]
    )  # PostgreSQL's protocol would refuse this many bound parameters


def test_insert_refuses_an_f_expression_as_the_orm_does():
    from django.db.models import F

    job = Job(name=F("handler"), handler="noop", schedule_type="once", run_at=timezone.now())
    with pytest.raises(ValueError, match="F\\(\\) expressions"):
        statements.insert([job])


def test_recording_successes_is_one_statement_for_any_batch(worker):
    services.jobs_create_many(handler="noop", payloads=[{}] * 5)
    claimed = engine.executions_claim(worker=worker, queues=["default"], limit=5)
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append(sql)
        return execute(sql, params, many, context)

    results = [None, {"n": 1}]
    with connection.execute_wrapper(capture):
        for batch, result in ((claimed[:1], None), (claimed[1:], {"n": 1})):
            outcomes = [
                engine.Outcome(execution, ExecutionState.SUCCEEDED, result=result)
                for execution in batch
            ]
            engine.outcomes_record(worker=worker, outcomes=outcomes)
    assert len(set(captured)) == 1  # the same SQL for a batch of 1 and of 4: prepared once
    stored = dict(Execution.objects.values_list("pk", "result"))
    assert [stored[e.pk] for e in claimed] == [results[0]] + [results[1]] * 4
    assert set(Execution.objects.values_list("state", flat=True)) == {ExecutionState.SUCCEEDED}
    assert set(Job.objects.values_list("state", flat=True)) == {"completed"}


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_claimed_rows_are_the_instances_the_orm_would_load(worker):
    due_job(payload={}, notify_on=["dead"], notify_emails=["ops@example.com"])
    [claimed] = engine.executions_claim(worker=worker, queues=["default"], limit=1)
    loaded = Execution.objects.select_related("job").get(pk=claimed.pk)
    assert fields_of(claimed) == fields_of(loaded)
    assert fields_of(claimed.job) == fields_of(loaded.job)
    assert claimed.started_at.tzinfo is not None and claimed.job.notify_on == ["dead"]
    assert not claimed._state.adding and claimed._state.db == "default"
    claimed.job.name = "renamed"
    claimed.job.save(update_fields=["name"])  # an UPDATE of the row, not a second INSERT
    assert Job.objects.get().name == "renamed"


def test_claimed_rows_send_init_signals_when_someone_listens(worker):
    from django.db.models.signals import post_init

    due_job()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(sender)

    post_init.connect(receiver, sender=Execution)
    try:
        engine.executions_claim(worker=worker, queues=["default"], limit=1)
    finally:
        post_init.disconnect(receiver, sender=Execution)
    assert seen == [Execution]


def prepared_enqueues() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%pg_notify%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # it opens a connection of its own
def test_a_repeated_enqueue_is_prepared_unless_preparing_is_off():
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    for _ in range(threshold + 1):
        due_job()
    assert prepared_enqueues() == 1
    # A connection with preparing off, as DATABASE_PREPARE_THRESHOLD=none makes them.
    connection.close()
    try:
        connection.ensure_connection()
        connection.connection.prepare_threshold = None
        for _ in range(threshold + 1):
            due_job()
        assert prepared_enqueues() == 0
    finally:
        connection.close()  # the next test connects with the settings' threshold again


def test_timestamps_load_as_djangos_loader_loads_them_on_every_cursor():
    from datetime import UTC, datetime

    from psycopg.pq import Format

    sql = "SELECT '2026-03-29 01:30:00+01'::timestamptz, NULL::timestamptz"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        from_django = cursor.fetchone()
        loader = cursor.connection.adapters.get_loader(1184, Format.TEXT)
    with statements.bound_cursor() as cursor:
        cursor.execute(sql)
        from_bound = cursor.fetchone()
    expected = (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), None)
    assert from_django == from_bound == expected
    assert from_django[0].tzinfo is connection.timezone  # as Django's loader sets it
    assert loader.__module__ == "jobs.statements"  # parsed by psycopg's loader, not Django's

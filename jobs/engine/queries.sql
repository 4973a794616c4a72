-- Every statement the worker and the enqueue path run, whole, top to bottom.
--
-- Each block starts with `-- name --` and a description; jobs.engine.queries loads them
-- once. Parameters are named (%(name)s); a whole number the plan depends on is written into
-- the statement instead ({name}). A state change is a conditional UPDATE
-- (... WHERE state = 'running' AND worker_id = %(worker)s), so a late writer changes
-- nothing. States are written as constants, not passed: a prepared statement's generic
-- plan uses the partial indexes (WHERE state = 'queued', WHERE state = 'running') only when
-- it sees the constant. NOTIFY payloads are read by jobs.wakeup.

-- enqueue --
-- Insert jobs (%(jobs)s: a JSON array of rows, one object of jobs_job's columns each), the
-- first execution of those already due (%(runs)s: [{job_id, scheduled_for}]), one audit
-- event per job when %(audited)s, and wake the workers with %(notify)s at commit. One
-- statement: outside a transaction it is one round trip and one commit. The rows travel as
-- one JSON text, not an array per column: a client builds it in one call, whatever the count.
WITH given AS (
    SELECT * FROM jsonb_populate_recordset(NULL::jobs_job, %(jobs)s::jsonb)
), job AS (
    INSERT INTO jobs_job (
        id, owner_id, name, handler, payload, schedule_type, run_at, interval_seconds,
        cron, timezone, queue, priority, max_retries, retry_backoff_seconds,
        timeout_seconds, misfire_policy, unique_key, notify_on, notify_emails,
        notify_webhook_url, notify_webhook_secret, notify_digest_minutes, state,
        next_run_at, last_run_at, concurrency_key, concurrency_limit, trace_context,
        created_at, updated_at
    )
    SELECT id, owner_id, name, handler, payload, schedule_type, run_at,
        interval_seconds, cron, timezone, queue, priority, max_retries,
        retry_backoff_seconds, timeout_seconds, misfire_policy, unique_key,
        notify_on, notify_emails, notify_webhook_url, notify_webhook_secret,
        notify_digest_minutes, state, next_run_at, last_run_at, concurrency_key,
        concurrency_limit, trace_context, %(now)s, %(now)s
    FROM given
    RETURNING id, owner_id, queue, priority, concurrency_key, concurrency_limit
), execution AS (
    INSERT INTO jobs_execution (
        job_id, scheduled_for, attempt, state, queue, priority, run_after,
        concurrency_key, concurrency_limit, cancel_requested, error, error_code,
        traceback, created_at
    )
    SELECT run.job_id, run.scheduled_for, 1, 'queued', job.queue, job.priority,
        run.scheduled_for, job.concurrency_key, job.concurrency_limit, false, '', '', '',
        %(now)s
    FROM jsonb_to_recordset(%(runs)s::jsonb) AS run(job_id uuid, scheduled_for timestamptz)
    JOIN job ON job.id = run.job_id
), queue AS (
    -- Every queue a job names has its row: it can be paused and limited, and claims lock it.
    INSERT INTO jobs_queue (name, paused, rate_period, created_at, updated_at)
    SELECT DISTINCT queue, false, 1, %(now)s::timestamptz, %(now)s::timestamptz FROM given
    ON CONFLICT (name) DO NOTHING
), audit AS (
    INSERT INTO jobs_auditevent (
        created_at, actor_id, actor, via, ip, action, object_type, object_id, owner_id,
        changes
    )
    SELECT %(now)s, %(actor_id)s, %(actor)s, %(via)s, %(ip)s::inet, 'create', 'job',
        job.id::text, job.owner_id, %(changes)s::jsonb
    FROM job WHERE %(audited)s
)
SELECT pg_notify('jobs_scheduler', payload) FROM unnest(%(notify)s::text[]) AS payload;

-- copy_jobs --
-- A bulk enqueue writes the same rows as enqueue, streamed: COPY is the cheapest way in for
-- thousands of rows (no array parameters to build, no plan). Its four statements
-- (copy_jobs, copy_executions, copy_audit, enqueue_copied) run in one transaction. The
-- columns are jobs.engine.enqueue.JOB_COLUMNS, then the times.
COPY jobs_job (
    id, owner_id, name, handler, payload, schedule_type, run_at, interval_seconds,
    cron, timezone, queue, priority, max_retries, retry_backoff_seconds,
    timeout_seconds, misfire_policy, unique_key, notify_on, notify_emails,
    notify_webhook_url, notify_webhook_secret, notify_digest_minutes, state,
    next_run_at, last_run_at, concurrency_key, concurrency_limit, trace_context,
    created_at, updated_at
) FROM STDIN;

-- copy_executions --
-- The first attempts of a bulk enqueue's due jobs (the state, 'queued', is in each row).
COPY jobs_execution (
    job_id, scheduled_for, attempt, state, queue, priority, run_after,
    concurrency_key, concurrency_limit, cancel_requested, error, error_code,
    traceback, created_at
) FROM STDIN;

-- copy_audit --
-- One audit event per job of a bulk enqueue, as enqueue writes them.
COPY jobs_auditevent (
    created_at, actor_id, actor, via, ip, action, object_type, object_id, owner_id, changes
) FROM STDIN;

-- enqueue_copied --
-- The end of a bulk enqueue: the rows of the queues its jobs name, and the wake-up.
WITH queue AS (
    INSERT INTO jobs_queue (name, paused, rate_period, created_at, updated_at)
    SELECT DISTINCT name, false, 1, %(now)s::timestamptz, %(now)s::timestamptz FROM unnest(%(queue)s::text[]) AS name
    ON CONFLICT (name) DO NOTHING
)
SELECT pg_notify('jobs_scheduler', payload) FROM unnest(%(notify)s::text[]) AS payload;

-- due_jobs --
-- Lock up to %(limit)s active jobs whose next run has come, oldest first, and return what
-- planning their occurrences needs. SKIP LOCKED: other workers take other jobs meanwhile.
SELECT id, schedule_type, run_at, interval_seconds, cron, timezone, misfire_policy,
    next_run_at, last_run_at, queue, priority
FROM jobs_job
WHERE state = 'active' AND next_run_at <= %(now)s
ORDER BY next_run_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- queue_occurrences --
-- Queue the planned first attempts (job, time) and write the jobs' new next and last run;
-- wake the workers of each queue that got one. The unique (job, scheduled_for, attempt)
-- key turns an occurrence queued twice into a no-op.
WITH advanced AS (
    UPDATE jobs_job AS job
    SET next_run_at = v.next_run_at, last_run_at = v.last_run_at
    FROM unnest(%(job_id)s::uuid[], %(next_run_at)s::timestamptz[],
        %(last_run_at)s::timestamptz[]) AS v(id, next_run_at, last_run_at)
    WHERE job.id = v.id
), queued AS (
    INSERT INTO jobs_execution (
        job_id, scheduled_for, attempt, state, queue, priority, run_after,
        concurrency_key, concurrency_limit, cancel_requested, error, error_code,
        traceback, created_at
    )
    SELECT run.job_id, run.scheduled_for, 1, 'queued', run.queue, run.priority,
        run.scheduled_for, job.concurrency_key, job.concurrency_limit, false, '', '', '',
        %(now)s
    FROM unnest(
        %(run_job_id)s::uuid[], %(run_scheduled_for)s::timestamptz[],
        %(run_queue)s::text[], %(run_priority)s::smallint[]
    ) AS run(job_id, scheduled_for, queue, priority)
    JOIN jobs_job AS job ON job.id = run.job_id
    ON CONFLICT DO NOTHING
    RETURNING queue
)
SELECT pg_notify('jobs_scheduler', 'queued:' || queue)
FROM (SELECT DISTINCT queue FROM queued) AS woken;

-- next_due --
-- When the next active job falls due (read through the partial index job_due_idx).
SELECT next_run_at FROM jobs_job
WHERE state = 'active' AND next_run_at IS NOT NULL
ORDER BY next_run_at
LIMIT 1;

-- claim_guard --
-- The first statement of a claim's transaction: it takes the locks the claim's limits
-- rely on, and leaves what it took in transaction settings the claim reads. It takes a
-- shared advisory lock per queue of the worker's: a pause or a limit change takes it
-- exclusively (lock_queue), so it waits for the claims under way, and the claims begun
-- after it wait for its commit and see it (shared locks live in memory: no row is
-- written). Each queue with a concurrency or rate limit also takes its claim lock, alone:
-- claims of a limited queue run one at a time, each in a transaction that sees what the
-- one before it committed. Keyed claims share one such lock (a key may span queues),
-- taken only when keyed work is due. Locks are taken in name order, keyed claims last, so
-- two claims never wait on each other in a circle.
WITH shared AS (
    SELECT name,
        pg_advisory_xact_lock_shared(hashtextextended('jobs_queue ' || name, 0))::text
    FROM unnest({queues}::text[]) AS mine(name)
    ORDER BY name
), guarded AS (
    SELECT queue.name,
        pg_advisory_xact_lock(hashtextextended('jobs_queue claim ' || queue.name, 0))::text
    FROM shared JOIN jobs_queue AS queue ON queue.name = shared.name
    WHERE NOT queue.paused
        AND (queue.concurrency_limit IS NOT NULL OR queue.rate_limit IS NOT NULL)
    ORDER BY queue.name
), keyed AS (
    SELECT pg_advisory_xact_lock(hashtextextended('jobs_queue keys', 0))::text
    WHERE EXISTS (
        SELECT 1 FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key IS NOT NULL
            AND queue = ANY({queues}::text[]) AND run_after <= %(now)s
    )
)
-- The columns are evaluated left to right: the shared locks, the claim locks, keys last.
SELECT (SELECT count(*) FROM shared) AS queues,
    set_config('jobs.claim_guarded',
        coalesce((SELECT array_agg(name ORDER BY name) FROM guarded), '{{}}')::text, true),
    set_config('jobs.claim_keyed', (EXISTS (SELECT 1 FROM keyed))::text, true),
    -- A rate-limited queue whose next start is a few milliseconds away waits for it here,
    -- under its lock (no other claim could start it sooner): a worker wakes just before,
    -- and the start lands on the rate's schedule rather than a wake-up's delay after it.
    (SELECT pg_sleep(extract(epoch FROM min(state.next_start_at) - clock_timestamp()))
        FROM jobs_queuestate AS state JOIN guarded ON guarded.name = state.queue_id
        WHERE state.next_start_at > clock_timestamp()
            AND state.next_start_at < clock_timestamp() + interval '{rate_wait_ms} ms');

-- claim --
-- Mark up to {limit} due executions of {queues} whose handler is one of {handlers} (those
-- the worker has: a worker of an older release leaves a new handler's work to the workers
-- that have it) running for %(worker)s, highest priority then oldest first, within every
-- limit, and return them with their jobs; run after
-- claim_guard in one transaction. Each queue is read on its own, in the order of its
-- index: unkeyed rows through execution_claim_idx, keyed ones key by key (a loose scan of
-- execution_claim_keyed_idx), so rows behind a full key or in a paused queue are never
-- read. A queue's room is its limit less what runs in it now, counted under its lock; a
-- key's room the same for the key; a rate-limited queue starts at most one per claim, not
-- before its next start time (see booked). `started_at` is the database's
-- clock once the locks are held. Rows locked past the limits are let go at commit. The
-- worker's batch ({limit}: its concurrency and what it may claim ahead) and queues are
-- written into the statement, and only what it asks for now (%(free)s) is bound, so one
-- text is prepared and planned once per worker however many slots are free.
WITH RECURSIVE setting AS (
    SELECT current_setting('jobs.claim_guarded')::text[] AS guarded,
        current_setting('jobs.claim_keyed')::boolean AS keyed,
        clock_timestamp() AS now
), open AS (
    -- The worker's queues that may start something, each with its room (NULL: no limit):
    -- a paced rate-limited queue has none; any other at most one if it is rate-limited,
    -- and no more than its concurrency limit leaves.
    SELECT limits.*, CASE
            WHEN paced THEN 0
            ELSE least(CASE WHEN rate_limit IS NOT NULL THEN 1 END, concurrency_room)
        END AS room
    FROM (
        SELECT mine.name, queue.rate_limit, queue.rate_period, state.next_start_at,
            coalesce(state.recent_starts, '{{}}') AS recent_starts,
            -- not before the schedule's next start, nor while the period's window is full
            -- (the window checked too: a limit lowered since the last start may have filled it)
            queue.rate_limit IS NOT NULL AND (
                coalesce(state.next_start_at, '-infinity') > setting.now
                OR coalesce(state.recent_starts[queue.rate_limit]
                    > setting.now - make_interval(secs => queue.rate_period), false)
            ) AS paced,
            CASE WHEN queue.concurrency_limit IS NOT NULL THEN queue.concurrency_limit - (
                SELECT count(*) FROM jobs_execution AS busy
                WHERE busy.state = 'running' AND busy.queue = mine.name
            ) END AS concurrency_room
        FROM unnest({queues}::text[]) AS mine(name)
        CROSS JOIN setting
        LEFT JOIN jobs_queue AS queue ON queue.name = mine.name
        LEFT JOIN jobs_queuestate AS state ON state.queue_id = mine.name
        WHERE NOT coalesce(queue.paused, false)
            -- a limited queue only when this transaction holds its lock
            AND (queue.concurrency_limit IS NULL AND queue.rate_limit IS NULL
                OR mine.name = ANY(setting.guarded))
        OFFSET 0  -- counted once per queue, not once per use of concurrency_room
    ) AS limits
), plain AS (
    SELECT due.id, due.queue, due.priority, due.run_after FROM open
    CROSS JOIN LATERAL (
        SELECT id, queue, priority, run_after FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key IS NULL AND queue = open.name
            AND run_after <= %(now)s
            AND {_runnable}
        ORDER BY priority DESC, run_after, id
        LIMIT least({limit}, coalesce(open.room, {limit}))
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE coalesce(open.room, 1) > 0
), key AS (
    -- The keys with queued work in the open queues, one index probe each.
    SELECT open.name AS queue, (
        SELECT min(concurrency_key) FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key IS NOT NULL AND queue = open.name
    ) AS name
    FROM open CROSS JOIN setting
    WHERE setting.keyed AND coalesce(open.room, 1) > 0
    UNION ALL
    SELECT key.queue, (
        SELECT min(concurrency_key) FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key IS NOT NULL AND queue = key.queue
            AND concurrency_key > key.name
    )
    FROM key WHERE key.name IS NOT NULL
), key_room AS (
    -- Each key's room: the limit of its next in line (jobs that share a key are meant to
    -- share its limit) less what runs under it now, across every queue.
    SELECT key.queue, key.name, head.concurrency_limit - busy.running AS room
    FROM key
    CROSS JOIN LATERAL (
        SELECT concurrency_limit FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key = key.name AND queue = key.queue
            AND run_after <= %(now)s
            AND {_runnable}
        ORDER BY priority DESC, run_after, id
        LIMIT 1
    ) AS head
    CROSS JOIN LATERAL (
        SELECT count(*) AS running FROM jobs_execution
        WHERE state = 'running' AND concurrency_key = key.name
    ) AS busy
    WHERE key.name IS NOT NULL
), keyed AS (
    -- As many of each key's next in line as its room allows: a full key's rows are not
    -- read, let alone locked.
    SELECT due.id, due.queue, due.priority, due.run_after, due.concurrency_key, key_room.room
    FROM key_room
    CROSS JOIN LATERAL (
        SELECT id, queue, priority, run_after, concurrency_key
        FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key = key_room.name
            AND queue = key_room.queue AND run_after <= %(now)s
            AND {_runnable}
        ORDER BY priority DESC, run_after, id
        LIMIT least({limit}, key_room.room)
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE key_room.room > 0
), within_keys AS (
    SELECT id, queue, priority, run_after FROM (
        SELECT keyed.*, row_number() OVER (
            PARTITION BY concurrency_key ORDER BY priority DESC, run_after, id) AS nth
        FROM keyed
    ) AS ranked
    WHERE nth <= room
), picked AS (
    SELECT ranked.id, ranked.queue FROM (
        SELECT candidate.*, row_number() OVER (
            PARTITION BY candidate.queue ORDER BY priority DESC, run_after, id) AS nth
        FROM (SELECT * FROM plain UNION ALL SELECT * FROM within_keys) AS candidate
    ) AS ranked
    JOIN open ON open.name = ranked.queue
    WHERE open.room IS NULL OR ranked.nth <= open.room
    ORDER BY ranked.priority DESC, ranked.run_after, ranked.id
    LIMIT least({limit}, %(free)s)
), booked AS (
    -- The engine's bookkeeping, under the locks this claim holds: a rate-limited queue
    -- that started one gets its next start time; and a claim that found due work held
    -- back by a limit counts it, by kind (for /metrics).
    INSERT INTO jobs_queuestate AS state (
        queue_id, next_start_at, recent_starts, held_concurrency, held_rate, held_key
    )
    -- The rate's schedule: one start every period / limit. A start late by up to a fifth
    -- of the period keeps its place, so the next ones come sooner and the time is made up
    -- (a later one begins a new schedule: no burst after a quiet spell). What keeps it exact
    -- is the window: the queue's starts of the last period are kept, newest first, and the
    -- next start waits until the limit-th newest is a period old, so no span shorter than
    -- the period ever holds more than the limit, however the schedule made up lost time.
    SELECT name, next_start_at, recent_starts, held_concurrency, held_rate, held_key
    FROM (
        SELECT open.name, pace.started,
            CASE WHEN started THEN greatest(
                CASE WHEN open.next_start_at >= setting.now - pace.catch_up
                    THEN open.next_start_at ELSE setting.now
                END + pace.spacing,
                recent.starts[open.rate_limit] + pace.period
            ) END AS next_start_at,
            CASE WHEN started THEN recent.starts ELSE open.recent_starts END AS recent_starts,
            (due.waiting AND coalesce(open.concurrency_room, 1) <= 0)::int AS held_concurrency,
            (due.waiting AND open.paced)::int AS held_rate,
            EXISTS (
                SELECT 1 FROM key_room WHERE key_room.queue = open.name AND key_room.room <= 0
            )::int AS held_key
        FROM open
        CROSS JOIN setting
        CROSS JOIN LATERAL (
            SELECT open.rate_limit IS NOT NULL
                AND EXISTS (SELECT 1 FROM picked WHERE picked.queue = open.name) AS started,
                make_interval(secs => open.rate_period) AS period,
                make_interval(secs => open.rate_period::float8 / open.rate_limit) AS spacing,
                make_interval(secs => open.rate_period / 5.0) AS catch_up
        ) AS pace
        CROSS JOIN LATERAL (
            SELECT ARRAY(
                SELECT start FROM unnest(open.recent_starts || setting.now) AS start
                WHERE start > setting.now - pace.period
                ORDER BY start DESC
                LIMIT open.rate_limit
            ) AS starts
        ) AS recent
        CROSS JOIN LATERAL (
            SELECT EXISTS (
                SELECT 1 FROM jobs_execution
                WHERE state = 'queued' AND concurrency_key IS NULL AND queue = open.name
                    AND run_after <= %(now)s
            ) OR EXISTS (
                SELECT 1 FROM jobs_execution
                WHERE state = 'queued' AND concurrency_key IS NOT NULL AND queue = open.name
                    AND run_after <= %(now)s
            ) AS waiting
        ) AS due
        WHERE open.rate_limit IS NOT NULL OR open.concurrency_room IS NOT NULL
            OR EXISTS (SELECT 1 FROM key_room WHERE key_room.queue = open.name)
    ) AS booking
    WHERE (started OR held_concurrency + held_rate + held_key > 0)
        -- a queue a job was moved to after its enqueue may have no row: no limits of its
        -- own to keep the books of
        AND EXISTS (SELECT 1 FROM jobs_queue WHERE jobs_queue.name = booking.name)
    ON CONFLICT (queue_id) DO UPDATE SET
        next_start_at = coalesce(excluded.next_start_at, state.next_start_at),
        recent_starts = excluded.recent_starts,
        held_concurrency = state.held_concurrency + excluded.held_concurrency,
        held_rate = state.held_rate + excluded.held_rate,
        held_key = state.held_key + excluded.held_key
), {_claimed_with_jobs};

-- claim_plain --
-- The claim of a worker whose queues have no limits and no keyed work due, run after
-- claim_guard as claim is: the same order and locking without the limits' bookkeeping,
-- at about the cost of the claim statement from before queues had limits. It claims
-- nothing unless the guard found none of the worker's queues limited and no keyed work
-- due (the worker then claims with claim; see engine.claim_due).
WITH setting AS (
    SELECT current_setting('jobs.claim_guarded') = '{{}}'
            AND NOT current_setting('jobs.claim_keyed')::boolean AS plain,
        clock_timestamp() AS now
), picked AS (
    SELECT due.id, due.priority, due.run_after FROM unnest({queues}::text[]) AS mine(name)
    LEFT JOIN jobs_queue AS queue ON queue.name = mine.name
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after FROM jobs_execution
        WHERE state = 'queued' AND concurrency_key IS NULL AND queue = mine.name
            AND run_after <= %(now)s
            AND {_runnable}
        ORDER BY priority DESC, run_after, id
        LIMIT {limit}
        FOR UPDATE SKIP LOCKED
    ) AS due
    -- The guard read the queues before it held their locks; this snapshot was taken after:
    -- a queue paused or limited meanwhile is left for the next claim (the full one).
    WHERE (SELECT plain FROM setting) AND NOT coalesce(queue.paused, false)
        AND queue.concurrency_limit IS NULL AND queue.rate_limit IS NULL
    ORDER BY due.priority DESC, due.run_after, due.id
    LIMIT %(free)s
), {_claimed_with_jobs};

-- _runnable --
-- The claims' condition that a queued row's job has a handler the worker has ({handlers}):
-- one primary-key probe of jobs_job per row read (a fragment, written into the claims).
-- OFFSET 0 keeps the EXISTS a probe: without it the planner may make it a join, and a plan
-- made while jobs_job had no statistics yet (a new deployment's first minute) then read
-- the whole table at every claim. The probe is priced high (a claim's limit that depends
-- on a queue's room is costed as a tenth of the queue): engine.connect turns JIT off.
EXISTS (SELECT FROM jobs_job AS job WHERE job.id = jobs_execution.job_id
    AND job.handler = ANY({handlers}::text[]) OFFSET 0)

-- _claimed_with_jobs --
-- The end of both claims: the executions `picked` marked running for %(worker)s, stamped
-- with the database's clock once the claim holds its locks, returned with their jobs in
-- claim order (a fragment, written into the statements that name it).
claimed AS (
    UPDATE jobs_execution AS execution
    SET state = 'running', worker_id = %(worker)s, claimed_at = setting.now,
        started_at = setting.now
    FROM picked, setting
    WHERE execution.id = picked.id
    RETURNING execution.*
)
SELECT claimed.id, claimed.job_id, claimed.state, claimed.scheduled_for, claimed.attempt, claimed.queue,
    claimed.priority, claimed.run_after, claimed.started_at, claimed.worker_id, claimed.trace_link,
    job.name AS job__name, job.handler AS job__handler, job.payload AS job__payload,
    job.owner_id AS job__owner_id, job.queue AS job__queue, job.priority AS job__priority,
    job.schedule_type AS job__schedule_type,
    job.run_at AS job__run_at, job.timezone AS job__timezone,
    job.max_retries AS job__max_retries,
    job.retry_backoff_seconds AS job__retry_backoff_seconds,
    job.timeout_seconds AS job__timeout_seconds, job.notify_on AS job__notify_on,
    job.notify_emails AS job__notify_emails,
    job.notify_webhook_url AS job__notify_webhook_url,
    job.notify_digest_minutes AS job__notify_digest_minutes,
    job.trace_context AS job__trace_context
FROM claimed CROSS JOIN LATERAL (
    -- Each claimed row's job, by its key (OFFSET 0 keeps this a probe: a join here may be
    -- planned as a read of the whole table while it had no statistics, see _runnable).
    SELECT * FROM jobs_job WHERE jobs_job.id = claimed.job_id OFFSET 0
) AS job
ORDER BY claimed.priority DESC, claimed.run_after, claimed.id;

-- claim_wait --
-- After a claim, in its transaction: the soonest a rate-limited queue of the worker's may
-- start its next, if that is still to come (the worker sleeps until then rather than
-- polling; a queue with nothing due costs it one empty claim). NULL when none waits.
SELECT min(next_start) FROM (
    SELECT greatest(state.next_start_at, state.recent_starts[queue.rate_limit]
            + make_interval(secs => queue.rate_period)) AS next_start
    FROM jobs_queue AS queue
    JOIN jobs_queuestate AS state ON state.queue_id = queue.name
    WHERE queue.name = ANY({queues}::text[]) AND queue.rate_limit IS NOT NULL
        AND NOT queue.paused
) AS limited
WHERE next_start > clock_timestamp();

-- lock_queue --
-- A pause, resume or limit change of %(name)s, first in its transaction: waits for the
-- claims of the queue under way (they hold the lock shared: claim_guard) and holds back
-- new ones until it commits.
SELECT pg_advisory_xact_lock(hashtextextended('jobs_queue ' || %(name)s, 0));

-- record_successes --
-- Mark the executions %(ids)s that %(worker)s still holds succeeded with their %(results)s
-- and the times their handlers %(started)s (NULL: keep the claim's),
-- and complete the one-time jobs among %(completing)s (from active or paused) whose own run
-- this was. Returns each recorded execution and, for a job completed, the state it left:
-- `finishing` locks the jobs (waiting out a concurrent change, then re-reading it).
WITH done AS (
    UPDATE jobs_execution AS execution
    SET state = 'succeeded', finished_at = %(now)s, result = batch.result,
        started_at = coalesce(batch.started, execution.started_at)
    FROM unnest(%(ids)s::bigint[], %(results)s::jsonb[], %(started)s::timestamptz[])
        AS batch(id, result, started)
    WHERE execution.id = batch.id AND execution.state = 'running'
        AND execution.worker_id = %(worker)s
    RETURNING execution.id, execution.job_id
), finishing AS (
    -- Each job probed by its key, never a read of jobs_job (see _runnable): a locking
    -- subquery stays a probe whatever the statistics said when this plan was made.
    SELECT job.id, job.state
    FROM (SELECT DISTINCT job_id FROM done WHERE id = ANY(%(completing)s::bigint[])) AS mine
    CROSS JOIN LATERAL (
        SELECT id, state FROM jobs_job
        WHERE jobs_job.id = mine.job_id AND state IN ('active', 'paused')
        FOR NO KEY UPDATE
    ) AS job
), completed AS (
    UPDATE jobs_job AS job SET state = 'completed', updated_at = %(now)s
    FROM finishing WHERE job.id = finishing.id
    RETURNING job.id, finishing.state
), met AS (
    -- Workflows (as workflow_release, for steps completed here): in this same statement,
    -- so a step is released exactly once and never lost between two transactions.
    UPDATE jobs_workflowdependency AS edge SET satisfied = true
    FROM jobs_workflowstep AS step
    WHERE step.job_id IN (SELECT id FROM completed) AND edge.depends_on_id = step.id
        AND NOT edge.satisfied
    RETURNING edge.step_id
), counted AS (
    UPDATE jobs_workflowstep AS step SET pending = step.pending - met.n
    FROM (SELECT step_id, count(*) AS n FROM met GROUP BY step_id) AS met
    WHERE step.id = met.step_id
    RETURNING step.job_id, step.pending
), released AS (
    INSERT INTO jobs_execution (
        job_id, scheduled_for, attempt, state, queue, priority, run_after,
        concurrency_key, concurrency_limit, cancel_requested, error, error_code,
        traceback, created_at
    )
    SELECT job.id, job.run_at, 1, 'queued', job.queue, job.priority, %(now)s,
        job.concurrency_key, job.concurrency_limit, false, '', '', '', %(now)s
    FROM {_ready_jobs}
    ON CONFLICT DO NOTHING
    RETURNING pg_notify('jobs_scheduler', 'queued:' || queue)
)
SELECT done.id, completed.state AS job_before
FROM done LEFT JOIN completed ON completed.id = done.job_id;

-- _ready_jobs --
-- The jobs of the workflow steps `counted` left with no dependency pending, each locked and
-- read by its key, whatever the statistics said when the plan was made (see _runnable): a
-- fragment, as record_successes and workflow_release release steps the same way.
(SELECT DISTINCT job_id FROM counted WHERE pending = 0) AS ready
CROSS JOIN LATERAL (
    SELECT * FROM jobs_job
    WHERE jobs_job.id = ready.job_id AND state IN ('active', 'paused')
    FOR NO KEY UPDATE
) AS job

-- record_cancelled --
-- Mark executions %(ids)s that %(worker)s still holds cancelled: their handlers stopped on
-- request; %(started)s as in record_successes. Returns the ids recorded.
UPDATE jobs_execution AS execution
SET state = 'cancelled', finished_at = %(now)s, error = %(error)s,
    started_at = coalesce(batch.started, execution.started_at)
FROM unnest(%(ids)s::bigint[], %(started)s::timestamptz[]) AS batch(id, started)
WHERE execution.id = batch.id AND execution.state = 'running'
    AND execution.worker_id = %(worker)s
RETURNING execution.id;

-- append_run_logs --
-- Append what handlers of %(worker)s logged to their executions (%(texts)s, one each) and
-- set the progress they last reported (NULL: none since the last append). Only rows the
-- worker claimed: a run rescued and attempted again elsewhere is its own row.
UPDATE jobs_execution AS execution
SET log = execution.log || batch.text,
    progress = coalesce(batch.progress, execution.progress),
    progress_message = coalesce(batch.message, execution.progress_message)
FROM unnest(%(ids)s::bigint[], %(texts)s::text[], %(progress)s::smallint[],
    %(messages)s::text[]) AS batch(id, text, progress, message)
WHERE execution.id = batch.id AND execution.worker_id = %(worker)s;

-- lock_job_state --
-- The job's state as it is now, locked until commit: a cancel that committed is seen here,
-- one not yet committed waits for us (and then cancels the retry queued here).
SELECT state FROM jobs_job WHERE id = %(job)s FOR NO KEY UPDATE;

-- finish_attempt --
-- End a held attempt as %(state)s (failed, dead or cancelled), if %(worker)s still holds it
-- (any worker when NULL: a rescue), its handler having %(started)s (NULL: never, or not
-- known; the claim's time stays), and %(trace_link)s, its run span, if its occurrence has
-- none yet (jobs.tracing: a retry links to the first attempt). Returns its id when it was
-- ours to end.
UPDATE jobs_execution
SET state = %(state)s, finished_at = %(now)s, error = %(error)s,
    error_code = %(error_code)s, traceback = %(traceback)s,
    started_at = coalesce(%(started)s::timestamptz, started_at),
    trace_link = CASE WHEN trace_link = '' THEN %(trace_link)s ELSE trace_link END
WHERE id = %(id)s AND state = 'running'
    AND (worker_id = %(worker)s OR %(worker)s::bigint IS NULL)
RETURNING id;

-- queue_next_attempt --
-- The one builder of a next attempt, after a failure or by hand: the same occurrence,
-- attempt + 1, in the job's queue at the job's priority (as the job is now, edits
-- included), from %(run_after)s; wakes that queue's workers at commit.
WITH retry AS (
    INSERT INTO jobs_execution (
        job_id, scheduled_for, attempt, state, queue, priority, run_after,
        concurrency_key, concurrency_limit, cancel_requested, error, error_code,
        traceback, trace_link, created_at
    )
    SELECT execution.job_id, execution.scheduled_for, execution.attempt + 1, 'queued',
        job.queue, job.priority, %(run_after)s, job.concurrency_key, job.concurrency_limit,
        false, '', '', '', execution.trace_link, %(now)s
    FROM jobs_execution AS execution JOIN jobs_job AS job ON job.id = execution.job_id
    WHERE execution.id = %(id)s
    RETURNING id, queue
)
SELECT id, pg_notify('jobs_scheduler', 'queued:' || queue) FROM retry;

-- fail_job --
-- A one-time job whose own run was dead-lettered fails (from active or paused, as
-- completing does). Returns the job when it changed.
UPDATE jobs_job SET state = 'failed', updated_at = %(now)s
WHERE id = %(job)s AND state IN ('active', 'paused')
RETURNING id;

-- previous_outcome --
-- The state of the job's last attempt of an earlier occurrence (is a success a recovery?).
SELECT state FROM jobs_execution
WHERE job_id = %(job)s AND scheduled_for < %(scheduled_for)s
ORDER BY scheduled_for DESC, attempt DESC
LIMIT 1;

-- take_failure_digest --
-- Take the job's failure-email slot for this digest window; no row: an email went out
-- within the window already.
UPDATE jobs_job SET last_failure_notified_at = %(now)s
WHERE id = %(job)s
    AND (last_failure_notified_at IS NULL OR last_failure_notified_at <= %(window_start)s)
RETURNING id;

-- register_worker --
-- A new worker row, its first heartbeat on the database's clock, with the handlers it has
-- (what its claims take; the admin and /metrics name work no live worker can run).
INSERT INTO jobs_worker (
    name, hostname, pid, queues, handlers, concurrency, started_at, heartbeat_at
)
VALUES (
    %(name)s, %(hostname)s, %(pid)s, %(queues)s::jsonb, %(handlers)s::jsonb, %(concurrency)s,
    now(), now()
)
RETURNING id;

-- heartbeat --
-- Extend %(worker)s's lease on the database's clock (the clock every host judges leases
-- by), note how many of its handler threads it abandoned still run, and return what the
-- database says it holds, with whether each was asked to stop.
WITH beat AS (
    UPDATE jobs_worker SET heartbeat_at = now(), abandoned_threads = %(abandoned)s
    WHERE id = %(worker)s
)
SELECT id, cancel_requested FROM jobs_execution
WHERE worker_id = %(worker)s AND state = 'running';

-- stale_executions --
-- Lock up to %(limit)s running executions whose worker's lease lapsed (no heartbeat for
-- %(lease_seconds)s by the database's clock), stopped, or was deleted, with their jobs.
SELECT execution.id, execution.job_id, execution.state, execution.scheduled_for, execution.attempt,
    execution.queue, execution.priority, execution.run_after, execution.started_at,
    execution.worker_id, execution.trace_link,
    job.name AS job__name, job.handler AS job__handler, job.payload AS job__payload,
    job.owner_id AS job__owner_id, job.queue AS job__queue, job.priority AS job__priority,
    job.schedule_type AS job__schedule_type,
    job.run_at AS job__run_at, job.timezone AS job__timezone,
    job.max_retries AS job__max_retries,
    job.retry_backoff_seconds AS job__retry_backoff_seconds,
    job.timeout_seconds AS job__timeout_seconds, job.notify_on AS job__notify_on,
    job.notify_emails AS job__notify_emails,
    job.notify_webhook_url AS job__notify_webhook_url,
    job.notify_digest_minutes AS job__notify_digest_minutes,
    job.trace_context AS job__trace_context
FROM jobs_execution AS execution
CROSS JOIN LATERAL (
    -- Each one's job by its key (OFFSET 0: see _claimed_with_jobs).
    SELECT * FROM jobs_job WHERE jobs_job.id = execution.job_id OFFSET 0
) AS job
LEFT JOIN jobs_worker AS worker ON worker.id = execution.worker_id
WHERE execution.state = 'running'
    AND (worker.id IS NULL OR worker.stopped_at IS NOT NULL
        OR worker.heartbeat_at < now() - make_interval(secs => %(lease_seconds)s))
LIMIT %(limit)s
FOR UPDATE OF execution SKIP LOCKED;

-- release --
-- Put executions %(ids)s that %(worker)s holds and nobody asked to stop back in the queue,
-- as if never claimed (in their place: their run_after is kept); wake their queues. The
-- rows stay locked until commit, so a cancel asked meanwhile waits and then finds them
-- queued.
WITH released AS (
    UPDATE jobs_execution
    SET state = 'queued', worker_id = NULL, claimed_at = NULL, started_at = NULL
    WHERE id = ANY(%(ids)s::bigint[]) AND state = 'running' AND worker_id = %(worker)s
        AND NOT cancel_requested
    RETURNING queue
)
SELECT (SELECT count(*) FROM released) AS released,
    (SELECT count(pg_notify('jobs_scheduler', 'queued:' || queue))
        FROM (SELECT DISTINCT queue FROM released) AS woken) AS woken;

-- cancel_unreleased --
-- The executions %(ids)s that %(worker)s holds and was asked to stop end cancelled at
-- release: back in the queue they would run again.
UPDATE jobs_execution
SET state = 'cancelled', finished_at = %(now)s, error = 'Cancelled before it finished.'
WHERE id = ANY(%(ids)s::bigint[]) AND state = 'running' AND worker_id = %(worker)s
    AND cancel_requested
RETURNING id;

-- stop_worker --
-- Mark %(worker)s stopped.
UPDATE jobs_worker SET stopped_at = now() WHERE id = %(worker)s;

-- notify --
-- Wake the workers with %(payload)s at the current transaction's commit.
SELECT pg_notify('jobs_scheduler', %(payload)s);

-- workflow_release --
-- The workflow steps waiting on the jobs %(jobs)s that finished in this transaction
-- (completed, or failed with on_failure = 'continue') count one dependency less; each that
-- has none left gets its first run, once: the decrement of `pending` takes the step's row
-- lock, so of two transactions meeting a step's last two dependencies at once, the second
-- waits and sees what the first left. An edge is met once (`satisfied`): a step retried
-- after it died with `continue` meets nothing twice. The job's row is locked before its
-- run is queued: a cancel that committed is seen, one under way waits and then cancels it.
-- record_successes does the same for the jobs it completes, in its own statement.
WITH finished AS (
    SELECT step.id FROM jobs_workflowstep AS step
    JOIN jobs_job AS job ON job.id = step.job_id
    WHERE step.job_id = ANY(%(jobs)s::uuid[])
        AND (job.state = 'completed' OR job.state = 'failed' AND step.on_failure = 'continue')
), met AS (
    UPDATE jobs_workflowdependency AS edge SET satisfied = true
    FROM finished
    WHERE edge.depends_on_id = finished.id AND NOT edge.satisfied
    RETURNING edge.step_id
), counted AS (
    UPDATE jobs_workflowstep AS step SET pending = step.pending - met.n
    FROM (SELECT step_id, count(*) AS n FROM met GROUP BY step_id) AS met
    WHERE step.id = met.step_id
    RETURNING step.job_id, step.pending
), released AS (
    INSERT INTO jobs_execution (
        job_id, scheduled_for, attempt, state, queue, priority, run_after,
        concurrency_key, concurrency_limit, cancel_requested, error, error_code,
        traceback, created_at
    )
    SELECT job.id, job.run_at, 1, 'queued', job.queue, job.priority, %(now)s,
        job.concurrency_key, job.concurrency_limit, false, '', '', '', %(now)s
    FROM {_ready_jobs}
    ON CONFLICT DO NOTHING
    RETURNING job_id, queue
)
SELECT job_id, pg_notify('jobs_scheduler', 'queued:' || queue) FROM released;

-- workflow_cancel_after --
-- The steps after the jobs %(jobs)s that died with on_failure = 'cancel', transitively,
-- end cancelled (jobs not yet finished, and any queued run of theirs). Their jobs are locked
-- in id order. Returns how many jobs it cancelled.
WITH RECURSIVE dead AS (
    SELECT step.id FROM jobs_workflowstep AS step
    JOIN jobs_job AS job ON job.id = step.job_id
    WHERE step.job_id = ANY(%(jobs)s::uuid[]) AND job.state = 'failed'
        AND step.on_failure = 'cancel'
), later(id) AS (
    SELECT edge.step_id FROM jobs_workflowdependency AS edge
    JOIN dead ON edge.depends_on_id = dead.id
    UNION
    SELECT edge.step_id FROM jobs_workflowdependency AS edge
    JOIN later ON edge.depends_on_id = later.id
), doomed AS (
    SELECT job.id FROM jobs_job AS job
    JOIN jobs_workflowstep AS step ON step.job_id = job.id
    WHERE step.id IN (SELECT id FROM later) AND job.state IN ('active', 'paused')
    ORDER BY job.id
    FOR NO KEY UPDATE OF job
), cancelled AS (
    UPDATE jobs_job AS job
    SET state = 'cancelled', next_run_at = NULL, updated_at = %(now)s
    FROM doomed WHERE job.id = doomed.id
    RETURNING job.id
), unqueued AS (
    UPDATE jobs_execution AS execution
    SET state = 'cancelled', finished_at = %(now)s, error = 'A step before it died.'
    FROM cancelled
    WHERE execution.job_id = cancelled.id AND execution.state = 'queued'
)
SELECT count(*) FROM cancelled;

"""The ceiling: a raw-SQL claim + complete loop (psycopg, no Django) on the same tables.

    python -m bench.raw URL BATCH

Each transaction claims BATCH queued executions with the same statement shape the worker
uses (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)) and completes them.
"""

import sys

import psycopg

CLAIM = """
    UPDATE jobs_execution SET state = 'running', started_at = clock_timestamp()
    WHERE id IN (
        SELECT id FROM jobs_execution
        WHERE state = 'queued' AND queue = 'default' AND run_after <= now()
        ORDER BY priority DESC, run_after, id
        LIMIT %s FOR UPDATE SKIP LOCKED
    )
    RETURNING id
"""
COMPLETE = """
    UPDATE jobs_execution SET state = 'succeeded', finished_at = clock_timestamp()
    WHERE id = ANY(%s) AND state = 'running'
"""


def main(url: str, batch: int) -> int:
    done = 0
    with psycopg.connect(url) as conn:
        while True:
            with conn.transaction():
                ids = [row[0] for row in conn.execute(CLAIM, [batch]).fetchall()]
                if ids:
                    conn.execute(COMPLETE, [ids])
            if not ids:
                return done
            done += len(ids)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

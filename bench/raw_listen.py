"""The latency floor: LISTEN, and claim on each NOTIFY (psycopg, no Django).

    python -m bench.raw_listen URL N BATCH

Claims up to BATCH with the raw loop's statement (bench.raw.CLAIM) each time a notification
arrives, until N executions are claimed, then prints one JSON object: execution id -> the wall-clock
time its claim returned.
"""

import json
import sys
import time

import psycopg

from .raw import CLAIM

IDLE_SECONDS = 30  # give up when nothing arrives for this long


def main(url: str, n: int, batch: int) -> dict[int, float]:
    claimed: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN jobs_scheduler")
        print("listening", flush=True)
        while len(claimed) < n:
            notes = list(conn.notifies(timeout=IDLE_SECONDS, stop_after=1))
            if not notes:
                break
            rows = conn.execute(CLAIM, [batch]).fetchall()
            at = time.time()
            claimed.update((row[0], at) for row in rows)
    return claimed


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))

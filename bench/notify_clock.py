"""An outside ear on the wake-ups: when each `queued:default` NOTIFY reached a listener.

    python -m bench.notify_clock URL N

LISTENs as a worker does, prints "listening", then one JSON list of the wall-clock times of
the first N such notifications (fewer if none comes for IDLE_SECONDS).
"""

import json
import sys
import time

import psycopg

IDLE_SECONDS = 30


def main(url: str, n: int) -> list[float]:
    heard: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN jobs_scheduler")
        print("listening", flush=True)
        while len(heard) < n:
            notes = list(conn.notifies(timeout=IDLE_SECONDS, stop_after=1))
            if not notes:
                break
            at = time.time()
            heard += [at for note in notes if note.payload == "queued:default"]
    return heard


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))

"""Procrastinate's side of the comparison; runs in its own virtualenv, imports nothing of ours.

    python procrastinate_side.py install URL
    python procrastinate_side.py enqueue URL N BATCH    # N no-op jobs, BATCH a call; jobs/s
    python procrastinate_side.py consume URL [--drain]  # one worker, its default options
    python procrastinate_side.py produce URL N RATE     # N jobs one at a time at RATE a second

The same output as pgqueuer_side.py: "ready", "D <ms>" per `since` job, a JSON summary.
"""

import asyncio
import json
import sys
import time

from procrastinate import App, PsycopgConnector

# The connection string is read from the command line before the app is built.
app = App(connector=PsycopgConnector(conninfo=sys.argv[2] if len(sys.argv) > 2 else ""))
seen = {"first": None, "last": None, "count": 0}


def stamp() -> float:
    now = time.time()
    seen["first"] = seen["first"] or now
    seen["last"] = now
    seen["count"] += 1
    return now


@app.task(name="noop")
async def noop() -> None:
    stamp()


@app.task(name="since")
async def since(t: float) -> None:
    now = stamp()
    print(f"D {(now - t) * 1000:.3f}", flush=True)


async def run(command: str, url: str, rest: list[str]) -> None:
    async with app.open_async():
        if command == "install":
            await app.schema_manager.apply_schema_async()
        elif command == "enqueue":
            n, batch = int(rest[0]), int(rest[1])
            started = time.perf_counter()
            for offset in range(0, n, batch):
                size = min(batch, n - offset)
                if batch == 1:
                    await noop.defer_async()
                else:
                    await noop.batch_defer_async(*[{}] * size)
            elapsed = time.perf_counter() - started
            print(json.dumps({"jobs_per_s": n / elapsed, "n": n, "batch": batch}))
        elif command == "produce":
            n, rate = int(rest[0]), float(rest[1])
            for _ in range(n):
                started = time.time()
                await since.defer_async(t=started)
                await asyncio.sleep(max(0.0, 1 / rate - (time.time() - started)))
        elif command == "consume":
            print("ready", flush=True)
            # Its default worker: concurrency 1, LISTEN/NOTIFY, stops on SIGTERM.
            await app.run_worker_async(wait="--drain" not in rest)
            print(json.dumps(seen), flush=True)
        else:
            sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3:]))

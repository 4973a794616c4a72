"""PgQueuer's side of the comparison; runs in its own virtualenv, imports nothing of ours.

    python pgqueuer_side.py install URL
    python pgqueuer_side.py enqueue URL N BATCH      # N no-op jobs, BATCH a call; prints jobs/s
    python pgqueuer_side.py consume URL [--drain]    # one consumer, batch 10 (its default)
    python pgqueuer_side.py produce URL N RATE       # N jobs one at a time at RATE a second

A consumer prints "ready" once connected, "D <ms>" for each `since` job (from the enqueue
call, stamped into its payload, to the handler), and a JSON summary when it ends: at a
drain's end, or on SIGTERM.
"""

import asyncio
import json
import signal
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode

BATCH = 10  # the consumer's batch_size: PgQueuer's default and documented setting


async def install(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def enqueue(url: str, n: int, batch: int) -> None:
    conn = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(conn))
    started = time.perf_counter()
    for offset in range(0, n, batch):
        size = min(batch, n - offset)
        if batch == 1:
            await queries.enqueue("noop", None)
        else:
            await queries.enqueue(["noop"] * size, [None] * size, [0] * size)
    elapsed = time.perf_counter() - started
    await conn.close()
    print(json.dumps({"jobs_per_s": n / elapsed, "n": n, "batch": batch}))


async def produce(url: str, n: int, rate: float) -> None:
    conn = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(conn))
    for _ in range(n):
        started = time.time()
        await queries.enqueue("since", json.dumps({"t": started}).encode())
        await asyncio.sleep(max(0.0, 1 / rate - (time.time() - started)))
    await conn.close()


async def consume(url: str, drain: bool) -> None:
    conn = await asyncpg.connect(url)
    qm = QueueManager(Queries.from_asyncpg_connection(conn))
    seen = {"first": None, "last": None, "count": 0}

    def stamp() -> float:
        now = time.time()
        seen["first"] = seen["first"] or now
        seen["last"] = now
        seen["count"] += 1
        return now

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        stamp()

    @qm.entrypoint("since")
    async def since(job: Job) -> None:
        now = stamp()
        print(f"D {(now - json.loads(job.payload)['t']) * 1000:.3f}", flush=True)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, qm.shutdown.set)
    print("ready", flush=True)
    mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
    await qm.run(batch_size=BATCH, mode=mode)
    await conn.close()
    print(json.dumps(seen), flush=True)


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    if command == "install":
        asyncio.run(install(url))
    elif command == "enqueue":
        asyncio.run(enqueue(url, int(rest[0]), int(rest[1])))
    elif command == "produce":
        asyncio.run(produce(url, int(rest[0]), float(rest[1])))
    elif command == "consume":
        asyncio.run(consume(url, "--drain" in rest))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

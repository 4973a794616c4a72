"""Run a peer's side of each figure in processes of its own virtualenv, on its database."""

import json
import subprocess
import threading
import time
from contextlib import contextmanager

import psycopg

from . import Peer

CONSUMERS = 2  # processes, as the project's 2 workers
BULK_BATCH = 1_000  # jobs a call in a peer's batch enqueue


@contextmanager
def peer_database(peer: Peer, server_url: str):
    """A fresh database `bench_<peer>` with the peer's schema; dropped afterwards."""
    base, _, _ = server_url.rpartition("/")
    name = f"bench_{peer.name}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        subprocess.run(peer.command("install", url), check=True, capture_output=True, timeout=120)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _output(process: subprocess.Popen, timeout: float) -> str:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError(f"{process.args[1]} {process.args[2]} did not finish") from None
    if process.returncode != 0:
        raise RuntimeError(f"{process.args[1]} exited {process.returncode}: {err[-1500:]}")
    return out


def enqueue(peer: Peer, url: str, n: int, batch: int) -> float:
    """Enqueue `n` no-op jobs, `batch` a call; return jobs/s."""
    process = subprocess.Popen(
        peer.command("enqueue", url, str(n), str(batch)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return json.loads(_output(process, 600).splitlines()[-1])["jobs_per_s"]


def drain(peer: Peer, server_url: str, n: int) -> tuple[float, float]:
    """Batch-enqueue `n` no-op jobs, drain them with CONSUMERS processes; return the batch
    enqueue's jobs/s and the drain's, from the first handler call to the last."""
    with peer_database(peer, server_url) as url:
        enqueued = enqueue(peer, url, n, BULK_BATCH)
        consumers = [
            subprocess.Popen(
                peer.command("consume", url, "--drain"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(CONSUMERS)
        ]
        seen = [json.loads(_output(c, 900).splitlines()[-1]) for c in consumers]
    done = sum(s["count"] for s in seen)
    if done != n:
        raise RuntimeError(f"{peer.name} ran {done} of {n} jobs")
    first = min(s["first"] for s in seen if s["first"])
    last = max(s["last"] for s in seen if s["last"])
    return enqueued, n / (last - first)


def latency(peer: Peer, server_url: str, n: int, rate: float) -> list[float]:
    """Enqueue `n` jobs one at a time at `rate` a second while CONSUMERS processes wait;
    return each job's delay from the enqueue call to its handler (ms)."""
    delays: list[float] = []
    lock = threading.Lock()
    with peer_database(peer, server_url) as url:
        consumers = [
            subprocess.Popen(
                peer.command("consume", url),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(CONSUMERS)
        ]

        def read(process: subprocess.Popen) -> None:
            for line in process.stdout:
                if line.startswith("D "):
                    with lock:
                        delays.append(float(line[2:]))

        try:
            for c in consumers:
                c.stdout.readline()  # "ready"
            readers = [threading.Thread(target=read, args=(c,), daemon=True) for c in consumers]
            for r in readers:
                r.start()
            time.sleep(1.0)  # into their idle wait, as the project's workers are
            subprocess.run(
                peer.command("produce", url, str(n), str(rate)),
                check=True,
                capture_output=True,
                timeout=n / rate + 120,
            )
            deadline = time.monotonic() + 30
            while len(delays) < n and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for c in consumers:
                c.terminate()
            for c in consumers:
                try:
                    c.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    c.kill()
    if len(delays) != n:
        raise RuntimeError(f"{peer.name} started {len(delays)} of {n} jobs")
    return delays

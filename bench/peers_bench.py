"""Issue 22's figures: the project beside PgQueuer and Procrastinate in one run, each target
printed with its ratio (by `python -m bench`, after the table).

Drain of 20,000 due no-op jobs by 2 processes each (the project with default options and
with BEST_OPTIONS; PgQueuer 2 consumers x batch 10; Procrastinate's default worker), with
the raw-SQL claim loop (2 clients, 10 a transaction) as the floor; start latency at a
steady 50/s from the enqueue call to the handler; bulk enqueue of 20,000 against PgQueuer's
batch enqueue (1,000 a call); jobs.enqueue one at a time against a raw single-row INSERT +
NOTIFY + commit. The peers run in virtualenvs of their own (bench.peers); BENCH_PEERS=0, or
--smoke unless BENCH_PEERS=1, leaves them out, and a peer pip cannot install is named.
"""

import os
import time

import psycopg

from . import peers, start_tail
from .common import Figure, scaled, start_worker, summary, use_database, wait_all
from .enqueue import ours_bulk, ours_single
from .peers import run as peer_run
from .seed import drain_seconds, due_noop_jobs, reset
from .throughput import drain_raw

# The drain's best options for no-op jobs: more claimed ahead a round trip. More slots
# than the default 4 only add threads contending for the GIL (10 slots with 100 ahead: 14,200
# to 15,400 jobs/s; 4 slots with 400 ahead: 16,600 to 16,800, on the machine of the README).
BEST_OPTIONS = ("--concurrency", "4", "--prefetch", "400")
RATE = 50  # latency: jobs enqueued a second
RAW_QUEUE = """
    CREATE TABLE IF NOT EXISTS bench_raw_queue (
        id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL,
        state text NOT NULL DEFAULT 'queued', run_after timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS bench_raw_queue_due ON bench_raw_queue (run_after)
        WHERE state = 'queued';
    TRUNCATE bench_raw_queue;
"""
RAW_INSERT = """
    WITH row AS (INSERT INTO bench_raw_queue (queue, payload) VALUES ('default', '{}')
        RETURNING queue)
    SELECT pg_notify('bench_raw', queue) FROM row
"""


def drain_project(url: str, n: int, *options: str) -> float:
    reset(url)
    due_noop_jobs(url, n)
    wait_all([start_worker(url, "--burst", *options) for _ in range(2)])
    return n / drain_seconds(url)


def raw_single_row(url: str, n: int) -> float:
    """One row, its NOTIFY and the commit: one autocommitted statement a job."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_QUEUE)
        started = time.perf_counter()
        for _ in range(n):
            conn.execute(RAW_INSERT)
        rate = n / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_raw_queue")
    return rate


def peers_wanted(smoke: bool) -> bool:
    return os.environ.get("BENCH_PEERS", "0" if smoke else "1") not in ("0", "")


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 200 if smoke else scaled(20_000)
    starts = 20 if smoke else max(2_000, scaled(2_000))
    singles = 50 if smoke else scaled(2_000)
    peer = {}  # name -> {figure: value}
    missing = {}  # name -> why it was not measured
    wanted = peers_wanted(smoke)
    for p in peers.PEERS:
        missing[p.name] = (peers.ensure_venv(p) if wanted else None) or (
            None if wanted else "left out (BENCH_PEERS=0, or --smoke)"
        )
        peer[p.name] = {}
    for name, why in missing.items():
        if why:
            print(f"peers: {name} not measured: {why}", flush=True)

    def each_peer(step):
        for p in peers.PEERS:
            if missing[p.name]:
                continue
            try:
                step(p)
            except Exception as exc:  # a peer's failure leaves the project's figures
                missing[p.name] = f"failed: {exc}"
                print(f"peers: {p.name} failed: {exc}", flush=True)

    # Drain, and the peers' batch enqueue of the same jobs.
    raw = drain_raw(url, n, 2, 10)
    default = drain_project(url, n)
    best = drain_project(url, n, *BEST_OPTIONS)

    def peer_drain(p):
        peer[p.name]["bulk"], peer[p.name]["drain"] = peer_run.drain(p, url, n)

    each_peer(peer_drain)
    # Enqueue.
    use_database(url)
    reset(url)
    bulk = ours_bulk(n)
    reset(url)
    single = ours_single(singles)
    raw1 = raw_single_row(url, singles)
    # Start latency.
    delays, steps = start_tail.measure(url, starts, RATE)
    latency = summary(delays) | {"max": max(delays)}

    def peer_latency(p):
        got = peer_run.latency(p, url, starts, RATE)
        peer[p.name]["latency"] = summary(got) | {"max": max(got)}

    each_peer(peer_latency)
    print(start_tail.tail_report(steps), flush=True)
    ours = {"raw": raw, "default": default, "best": best, "bulk": bulk, "single": single}
    ours |= {"raw1": raw1, "latency": latency}
    return figures(ours, peer, missing, n=n, starts=starts, singles=singles)


def figures(m: dict, peer: dict, missing: dict, *, n: int, starts: int, singles: int):
    """The figures of one run, each against the baseline its target names."""
    pgq, pro = peers.PGQUEUER, peers.PROCRASTINATE
    drain_load = f"{n:,} due no-op jobs, 2 processes each"
    start_load = f"{starts:,} jobs one at a time at {RATE}/s, 2 processes each, default options"
    out = []

    def add(name, value, unit, base=None, base_name="", target="", workload="", who=None):
        notes = {"workload": workload}
        if target:
            notes["target"] = target
        if who is not None and missing[who.name]:
            notes["missing"] = f"{who.label} not measured: {missing[who.name]}"
        out.append(Figure("peers", name, round(value, 2), unit, base, base_name, notes))

    def of(who, key, sub=None):
        value = peer[who.name].get(key)
        return value if value is None or sub is None else value[sub]

    pgq_name = f"{pgq.label}, 2 consumers x batch 10"
    for label, value, target in (
        ("drain, default options", m["default"], ">= 1.2"),
        (f"drain, {' '.join(BEST_OPTIONS)}", m["best"], ">= 1.5"),
    ):
        add(label, value, "jobs/s", of(pgq, "drain"), pgq_name, target, drain_load, pgq)
        add(
            label,
            value,
            "jobs/s",
            of(pro, "drain"),
            f"{pro.label}, default worker",
            "",
            drain_load,
            pro,
        )
        add(label, value, "jobs/s", m["raw"], "raw SQL, 2 clients, claim 10/txn", "", drain_load)
    add(
        "bulk enqueue, one call",
        m["bulk"],
        "jobs/s",
        of(pgq, "bulk"),
        f"{pgq.label} batch enqueue, 1,000 a call",
        ">= 1.0",
        f"{n:,} no-op jobs",
        pgq,
    )
    add(
        "jobs.enqueue, one a transaction",
        m["single"],
        "jobs/s",
        m["raw1"],
        "raw single-row INSERT + NOTIFY + commit",
        ">= 0.5",
        f"{singles:,} no-op jobs",
    )
    for p, bound in (("p50", 2.5), ("p99", 6.0), ("max", 20.0)):
        value = m["latency"][p]
        add(f"start {p}", value, "ms", bound, f"{bound:g} ms", "<= 1.0", start_load)
        for who in (pgq, pro):
            add(
                f"start {p}",
                value,
                "ms",
                of(who, "latency", p),
                f"{who.label} {p}",
                "<= 1.0",
                start_load,
                who,
            )
    return out

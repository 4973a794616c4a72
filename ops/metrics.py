"""The Prometheus exposition of the scheduler's figures (jobs.selectors), via prometheus_client.

A collector on a registry of its own, filled at scrape time from one Snapshot: nothing is
counted in process memory, so gunicorn's worker processes need no shared multiprocess
directory and any of them answers a scrape the same way. The activity families are gauges
over the last METRICS_WINDOW_SECONDS (query them as they are, without rate()).
"""

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from jobs.selectors.activity import DURATION_BUCKETS, OUTCOMES
from jobs.selectors.snapshot import Snapshot, snapshot

PREFIX = "scheduler"


class SchedulerCollector(Collector):
    """Yield the scheduler's metric families from a fresh snapshot."""

    def __init__(self, take=snapshot):
        self.take = take

    def collect(self):
        snap: Snapshot = self.take()
        yield from families(snap)


def _gauge(name, documentation, labels=()):
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def families(snap: Snapshot):
    """Return the metric families of `snap`."""
    window = f"in the last {snap.window_seconds} s"

    jobs = _gauge("jobs", "Jobs by state.", ["state"])
    for state, count in snap.jobs.items():
        jobs.add_metric([state], count)

    depth = _gauge(
        "queue_depth", "Queued executions that are due and wait for a worker.", ["queue"]
    )
    delayed = _gauge(
        "queue_delayed", "Queued executions not yet due (retries in backoff).", ["queue"]
    )
    running = _gauge("queue_running", "Executions running now.", ["queue"])
    lag = _gauge(
        "queue_lag_seconds",
        "How long the oldest due execution has waited past its run_after (0 when none).",
        ["queue"],
    )
    for name, queue in snap.queues.items():
        depth.add_metric([name], queue.due)
        delayed.add_metric([name], queue.delayed)
        running.add_metric([name], queue.running)
        lag.add_metric([name], queue.lag_seconds(snap.taken_at))

    paused = _gauge("queue_paused", "1 while a queue is paused across the fleet.", ["queue"])
    limit = _gauge(
        "queue_concurrency_limit",
        "A queue's fleet-wide concurrency limit (compare scheduler_queue_running).",
        ["queue"],
    )
    held = CounterMetricFamily(
        f"{PREFIX}_queue_claims_held_back",
        "Claims that found due work of a queue held back, by the limit that held it.",
        labels=["queue", "limit"],
    )
    for name, queue in snap.queue_limits.items():
        paused.add_metric([name], int(queue.paused))
        if queue.concurrency_limit is not None:
            limit.add_metric([name], queue.concurrency_limit)
        for kind, count in queue.held_back.items():
            held.add_metric([name, kind], count)

    alive = _gauge("workers_alive", "Workers whose heartbeat is within WORKER_LEASE_SECONDS.")
    alive.add_metric([], snap.workers_alive)
    slots = _gauge("worker_slots", "Execution slots (summed concurrency) of live workers.")
    slots.add_metric([], snap.worker_slots)
    abandoned = _gauge(
        "worker_abandoned_threads",
        "Handler threads a live worker abandoned at their timeout that still run; at "
        "WORKER_MAX_ABANDONED_THREADS it stops claiming.",
        ["worker"],
    )
    for worker, count in snap.worker_abandoned_threads.items():
        abandoned.add_metric([worker], count)
    unserved = _gauge(
        "executions_waiting_for_handler",
        "Due executions whose handler no live worker has (a rolling deploy's older workers "
        "leave them to the newer ones); they wait, unclaimed, until a worker that has it runs.",
        ["handler"],
    )
    for handler, count in snap.waiting_for_handler.items():
        unserved.add_metric([handler], count)

    dead = _gauge(
        "dead_letters", "Executions in state dead (the dead-letter list), all time.", ["handler"]
    )
    finished = _gauge(
        "executions_finished", f"Executions that finished {window}.", ["handler", "outcome"]
    )
    retries = _gauge("retries", f"Retry attempts (attempt > 1) queued {window}.", ["handler"])
    rescues = _gauge(
        "rescues", f"Attempts failed because their worker was lost, {window}.", ["handler"]
    )
    durations = GaugeHistogramMetricFamily(
        f"{PREFIX}_execution_duration_seconds",
        f"Run time of executions that finished {window}.",
        labels=["handler"],
    )
    bounds = [floatToGoString(b) for b in DURATION_BUCKETS] + ["+Inf"]
    for handler, figures in snap.handlers.items():
        dead.add_metric([handler], figures.dead_letters)
        for outcome in OUTCOMES:
            finished.add_metric([handler, outcome], figures.finished[outcome])
        retries.add_metric([handler], figures.retries)
        rescues.add_metric([handler], figures.rescues)
        buckets = list(zip(bounds, figures.duration_buckets, strict=True))
        durations.add_metric([handler], buckets, figures.duration_sum)

    window_gauge = _gauge("metrics_window_seconds", "The window of the activity figures.")
    window_gauge.add_metric([], snap.window_seconds)
    cost = _gauge("metrics_collect_seconds", "Time spent reading these figures from the database.")
    cost.add_metric([], snap.collect_seconds)

    return [
        jobs,
        depth,
        delayed,
        running,
        lag,
        paused,
        limit,
        held,
        alive,
        slots,
        abandoned,
        unserved,
        dead,
        finished,
        durations,
        retries,
        rescues,
        window_gauge,
        cost,
    ]


def render(accept: str = "") -> tuple[bytes, str]:
    """Return the metrics page and its content type, in the format the Accept header asks.

    Prometheus text format 0.0.4 by default, OpenMetrics when the scraper prefers it.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type

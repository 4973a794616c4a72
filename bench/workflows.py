"""Workflows: from the last fan-out step's finish to the fan-in's start, beside the plain
enqueue-to-start latency of the same run (bench.latency, LISTEN/NOTIFY).

Each round is one workflow of FAN_OUT `bench_clock` steps and a `bench_clock` fan-in after
them, on WORKERS worker processes. The fan-in is queued in the statement that records its
last dependency's success, so the gap is one recording, one NOTIFY and one claim.
"""

import time

from .common import Figure, scaled, start_worker, summary, use_database, wait_for_worker
from .latency import measure
from .seed import reset

WORKERS = 4
CONCURRENCY = 4
FAN_OUT = 50


def measure_fan_in(url: str, rounds: int, fan_out: int) -> dict:
    """Return the gaps (ms) from the last fan-out step's recorded finish to the fan-in
    handler's call, one per round."""
    reset(url)
    use_database(url)
    from jobs.models import Execution, WorkflowStep
    from jobs.services.workflows import workflow_create

    from . import handlers  # noqa: F401 - registers bench_clock in this process too

    workers = [
        start_worker(
            url, "--concurrency", str(CONCURRENCY), SCHEDULER_HANDLER_MODULES="bench.handlers"
        )
        for _ in range(WORKERS)
    ]
    gaps = []
    try:
        wait_for_worker(url, count=WORKERS)
        for r in range(rounds):
            steps = [{"name": f"s{i}", "handler": "bench_clock"} for i in range(fan_out)]
            join = {
                "name": "join",
                "handler": "bench_clock",
                "depends_on": [s["name"] for s in steps],
            }
            workflow = workflow_create(name=f"bench {r}", steps=[*steps, join])
            fan_in = WorkflowStep.objects.get(workflow=workflow, name="join").job_id
            deadline = time.monotonic() + 60
            while not Execution.objects.filter(job_id=fan_in, state="succeeded").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the fan-in did not run")
                time.sleep(0.02)
            runs = Execution.objects.filter(job__workflow_step__workflow=workflow)
            last_finish = max(
                at for at in runs.exclude(job_id=fan_in).values_list("finished_at", flat=True)
            )
            called_at = runs.get(job_id=fan_in).result["called_at"]
            gaps.append((called_at - last_finish.timestamp()) * 1000)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
    return summary(gaps)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    rounds = 3 if smoke else scaled(40)
    fan_out = 5 if smoke else FAN_OUT
    fan_in = measure_fan_in(url, rounds, fan_out)
    plain, _ = measure(url, 20 if smoke else scaled(200), listen=True)
    workload = (
        f"{rounds} workflows of {fan_out} steps and a fan-in, one after another; "
        f"{WORKERS} workers, concurrency {CONCURRENCY}; start = the handler called"
    )
    return [
        Figure(
            "workflows",
            f"last fan-out finish to fan-in start {p}",
            round(fan_in[p], 2),
            "ms",
            baseline=round(plain[p], 2),
            baseline_name="enqueue-to-start, LISTEN/NOTIFY (bench.latency)",
            notes={"workload": workload},
        )
        for p in ("p50", "p99")
    ]

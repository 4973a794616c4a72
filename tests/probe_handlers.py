"""Handlers for tests: `probe` does what `payload["mode"]` says."""

import os
import time

from django.utils import timezone

from handlers.registry import register
from tests.runlog.models import RunLog


@register(
    "probe",
    description="Test handler: succeed, fail, hang, crash, sleep or record, per payload.mode.",
    schema={
        "type": "object",
        "properties": {
            "mode": {"enum": ["succeed", "fail", "hang", "crash", "sleep", "record", "bad_result"]},
            "seconds": {"type": "number"},
            "value": {},
            "sleep_attempts": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["mode"],
    },
)
def probe(payload, ctx):
    mode = payload["mode"]
    log = RunLog.objects.create(
        job_id=ctx.job.pk,
        execution_id=ctx.execution.pk,
        attempt=ctx.attempt,
        pid=os.getpid(),
        started_at=timezone.now(),
    )
    if mode == "fail":
        raise RuntimeError(f"probe failed on attempt {ctx.attempt}")
    if mode == "crash":
        os._exit(17)  # the whole worker process dies, holding its executions
    if mode == "hang":
        while True:  # ignores cancellation on purpose: only the timeout frees the slot
            time.sleep(0.05)
    if mode == "sleep" and ctx.attempt in payload.get("sleep_attempts", [ctx.attempt]):
        ctx.sleep(payload.get("seconds", 1))
    if mode == "bad_result":
        return {"not json": object()}
    RunLog.objects.filter(pk=log.pk).update(finished_at=timezone.now())
    return {"mode": mode, "value": payload.get("value"), "attempt": ctx.attempt}


@register(
    "chatty",
    description="Test handler: log `lines` numbered lines, report progress, then sleep.",
    schema={
        "type": "object",
        "properties": {"lines": {"type": "integer"}, "then_sleep": {"type": "number"}},
        "required": ["lines"],
    },
)
def chatty(payload, ctx):
    lines = payload["lines"]
    for n in range(lines):
        ctx.logger.info("line %d of %d", n, lines)
    ctx.progress(50, f"logged {lines} lines")
    ctx.sleep(payload.get("then_sleep", 0))
    return {"lines": lines}

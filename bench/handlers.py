"""A handler for the latency benchmark: it records the moment it was called."""

import time

from handlers.registry import register


@register(
    "bench_clock",
    description="Benchmarks only: return the wall-clock time at which the handler began.",
    schema={"type": "object", "additionalProperties": False},
)
def bench_clock(payload, ctx):
    return {"called_at": time.time()}


@register(
    "bench_since",
    description="Benchmarks only: return when the handler began, given when it was enqueued.",
    schema={
        "type": "object",
        "properties": {"t": {"type": "number"}},
        "required": ["t"],
        "additionalProperties": False,
    },
)
def bench_since(payload, ctx):
    now = time.time()
    return {"called_at": now, "delay_ms": (now - payload["t"]) * 1000}


@register(
    "bench_chatty",
    description="Benchmarks only: log `lines` lines through ctx.logger; return how long it took.",
    schema={
        "type": "object",
        "properties": {"lines": {"type": "integer", "minimum": 0}},
        "required": ["lines"],
        "additionalProperties": False,
    },
)
def bench_chatty(payload, ctx):
    started = time.perf_counter()
    for n in range(payload["lines"]):
        ctx.logger.info("line %d: the handler says what it is doing", n)
    return {"seconds": time.perf_counter() - started}


@register(
    "bench_orm_sleep",
    description="Benchmarks only: read one row through the ORM, then sleep `seconds`.",
    schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0}},
        "required": ["seconds"],
        "additionalProperties": False,
    },
)
def bench_orm_sleep(payload, ctx):
    from jobs.models import Job  # the ORM, as most application handlers use it

    Job.objects.filter(pk=ctx.job.id).exists()
    ctx.sleep(payload["seconds"])

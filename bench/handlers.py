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

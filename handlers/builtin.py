"""Built-in handlers for tests, demos and benchmarks."""

import math

from .registry import register


@register(
    "noop",
    description="Do nothing and succeed. Payload: {}.",
    schema={"type": "object", "additionalProperties": False},
)
def noop(payload, ctx):
    return None


@register(
    "sleep",
    description="Sleep for `seconds`, stopping early if the execution is cancelled.",
    schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400}},
        "required": ["seconds"],
        "additionalProperties": False,
    },
)
def sleep(payload, ctx):
    seconds = payload["seconds"]
    ctx.logger.info("Sleeping %g s", seconds)
    # Progress about once a second (at most 100 steps), each step a cancellable sleep.
    steps = max(1, min(100, math.ceil(seconds)))
    for step in range(1, steps + 1):
        ctx.sleep(seconds / steps)
        ctx.progress(100 * step / steps, f"slept {seconds * step / steps:g} of {seconds:g} s")
    return {"slept": seconds}

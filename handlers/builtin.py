"""Built-in handlers for tests, demos and benchmarks."""

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
    ctx.sleep(payload["seconds"])
    return {"slept": payload["seconds"]}

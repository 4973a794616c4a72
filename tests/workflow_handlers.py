"""A test handler for workflows: `wf_collect` returns what its step read of the steps before
it (ctx.dependency_results), after sleeping `seconds` if given; it fails every attempt
before `succeed_from_attempt`."""

from handlers.registry import register


@register(
    "wf_collect",
    description="Test handler: returns its value and the results of the steps before it.",
    schema={
        "type": "object",
        "properties": {
            "value": {},
            "seconds": {"type": "number"},
            "succeed_from_attempt": {"type": "integer"},
        },
    },
)
def wf_collect(payload, ctx):
    if ctx.attempt < payload.get("succeed_from_attempt", 1):
        raise RuntimeError(f"wf_collect fails attempt {ctx.attempt}")
    if payload.get("seconds"):
        ctx.sleep(payload["seconds"])
    return {"value": payload.get("value"), "deps": ctx.dependency_results}

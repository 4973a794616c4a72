"""Where handler authors import the registry from: `from handlers.registry import register`.

The registry itself lives in jobs.registry, below everything that runs or validates jobs,
so that the scheduler never imports this app (handlers sit above it and use its models).
"""

from jobs.registry import (
    ANY_OBJECT,
    ENTRY_POINT_GROUP,
    Handler,
    HandlerContext,
    all_handlers,
    discover_entry_points,
    get_handler,
    register,
)

__all__ = [
    "ANY_OBJECT",
    "ENTRY_POINT_GROUP",
    "Handler",
    "HandlerContext",
    "all_handlers",
    "discover_entry_points",
    "get_handler",
    "register",
]
